"""Quantized bases (quantize: int8 / nf4, bitsandbytes on the CPU): methods that keep the base
frozen train on them and come back from their artifacts; methods that train the base refuse them
with the reason; a quantized run is its own setting; its exports load without ftlab."""

import pytest
import torch
from test_methods import untrained_test_loss

from ftlab.config import RunConfig, computed_fields
from ftlab.errors import ConfigError
from ftlab.train import artifacts, export, train

pytest.importorskip("bitsandbytes")


def bnb_layers(model) -> set:
    """The bitsandbytes layer classes inside `model`."""
    return {type(m).__name__ for m in model.modules() if type(m).__module__.startswith("bitsandbytes")}


def test_methods_that_train_the_base_refuse_a_quantized_one_and_quantize_is_part_of_the_setting():
    for method, needle in (("full", "trains every weight of the base"), ("bitfit", "bias terms"),
                           ("loha", "4-bit packing"), ("zero-shot", "a baseline reads the base model as it ships")):
        with pytest.raises(ConfigError, match=needle):
            RunConfig(model="tiny-gpt2" if method == "bitfit" else "tiny-llama", method=method, quantize="nf4")
    RunConfig(model="tiny-llama", method="loha", quantize="int8")  # 8-bit weights keep their shape
    with pytest.raises(ConfigError, match="quantize"):
        RunConfig(model="tiny-llama", method="lora", quantize="int4")
    plain, nf4 = RunConfig(model="tiny-llama"), RunConfig(model="tiny-llama", quantize="nf4")
    int8 = RunConfig(model="tiny-llama", quantize="int8")
    assert len({plain.hash, nf4.hash, int8.hash}) == 3
    # a run stored before the field existed is the unquantized setting
    assert "quantize" not in computed_fields(plain.to_dict()) and computed_fields(nf4.to_dict())["quantize"] == "nf4"


def test_lora_on_an_nf4_base_learns_reloads_and_exports(keyword_csv, tmp_path):
    config = RunConfig(model="tiny-llama", dataset=keyword_csv, method="lora", quantize="nf4", max_train=96,
                       max_eval=32, batch_size=16, max_steps=24, seed=0, warmup_ratio=0.0)
    summary = train(config, lambda e: None, artifact_dir=str(tmp_path / "run"))
    assert summary["base_quantized"] == "nf4"  # the model that trained, not only the one rebuilt below
    plain = RunConfig(**{**config.to_dict(), "quantize": "none"})
    before = untrained_test_loss(config, ["bad", "good", "meh"])
    assert summary["eval_loss"] < before
    assert summary["total_params"] == train(plain.replace(max_steps=1), lambda e: None)["total_params"]
    assert summary["trainable_params"] < 10_000  # the adapter and the head: the 4-bit base is frozen

    predictor = artifacts.load(str(tmp_path / "run"))
    assert bnb_layers(predictor.model) >= {"Linear4bit"}
    texts = ["a good one, filler", "bad bad filler words", "meh it was"]
    ours = [p["probs"] for p in predictor.predict(texts)]

    # the adapter on a base quantized by transformers and peft alone: the same probabilities
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, BitsAndBytesConfig

    adapter = export.export(str(tmp_path / "run"), "adapter", str(tmp_path / "adapter"), {"id": 1, "config": config.to_dict(), "summary": summary})
    from ftlab import models

    tokenizer = models.load_tokenizer("tiny-llama")
    random_base = models.random_model_folder("tiny-llama", "classification", predictor.label_names, tokenizer, 0)
    quantized = AutoModelForSequenceClassification.from_pretrained(
        random_base, quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                            bnb_4bit_compute_dtype=torch.float32,
                                                            llm_int8_skip_modules=["score"]), device_map={"": "cpu"})
    theirs = PeftModel.from_pretrained(quantized, adapter).eval()
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        probs = theirs(**batch).logits.softmax(-1)
    names = predictor.label_names
    ours = torch.tensor([[p[n] for n in names] for p in ours])
    # bitsandbytes' CPU inference kernel (which ftlab turns off: it cannot train) multiplies in bf16
    assert torch.allclose(probs, ours, atol=0.03)

    # merged: the adapter folded into the weights the base was rounded to, plain float32 layers
    merged = export.export(str(tmp_path / "run"), "merged", str(tmp_path / "merged"), {"id": 1, "config": config.to_dict(), "summary": summary})
    plain_model = AutoModelForSequenceClassification.from_pretrained(merged).eval()
    assert not bnb_layers(plain_model) and plain_model.dtype == torch.float32
    with torch.no_grad():
        merged_probs = plain_model(**batch).logits.softmax(-1)
    # ftlab computes a 4-bit layer as its weights dequantized to float32: what the merged model holds
    assert torch.allclose(merged_probs, ours, atol=1e-3)


def test_an_int8_base_trains_the_generative_task(qa_jsonl, tmp_path, monkeypatch):
    monkeypatch.setattr("ftlab.train.engine.GENERAL_MAX_TOKENS", 16)
    config = RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="lora", quantize="int8", max_train=96,
                       max_eval=8, batch_size=16, max_steps=24, seed=0, warmup_ratio=0.0, max_new_tokens=2)
    summary = train(config, lambda e: None, artifact_dir=str(tmp_path / "run"))
    assert summary["base_quantized"] == "int8" and summary["eval_loss"] < untrained_test_loss(config, [])
    assert bnb_layers(artifacts.load(str(tmp_path / "run")).model) >= {"Linear8bitLt"}


def test_a_4bit_base_keeps_training_after_an_evaluation(keyword_csv, tmp_path):
    """A run evaluates between steps: the layers of a 4-bit base must train the same way after it
    (bitsandbytes' CPU inference layout, taken in eval mode, would break the backward pass of the
    adapters below it, and fails outright on layers with a bias, as BERT's)."""
    from safetensors.torch import load_file

    config = RunConfig(model="tiny", dataset=keyword_csv, method="lora", quantize="nf4", max_train=64, max_eval=16,
                       batch_size=16, max_steps=8, eval_every=4, seed=0)
    train(config, lambda e: None, artifact_dir=str(tmp_path))
    saved = load_file(str(tmp_path / artifacts.WEIGHTS))
    untrained = dict(artifacts.build_untrained(config, ["bad", "good", "meh"])[0].named_parameters())
    first_layer = [n for n in saved if ".layer.0." in n and "lora_A" in n]
    assert first_layer and all(not torch.equal(saved[n], untrained[n].detach()) for n in first_layer)


def test_methods_that_add_modules_or_train_the_pooler_run_on_a_4bit_base_and_cache_their_own_features(keyword_csv):
    """The bottleneck adapter (float32 beside integer weights), the head with BERT's pooler (kept in
    full precision) and the head's cached features (a 4-bit body's are not a full one's)."""
    base = dict(model="tiny", dataset=keyword_csv, max_train=32, max_eval=16, batch_size=16, max_steps=2)
    for method, options in (("adapter", {}), ("head", {"train_pooler": True})):
        summary = train(RunConfig(method=method, method_options=options, quantize="nf4", **base), lambda e: None)
        assert summary["base_quantized"] == "nf4" and summary["trainable_params"] > 0, method
    # the full body's features are cached (by this run, or by an earlier one of the suite) ...
    train(RunConfig(method="head", **base), lambda e: None)
    assert train(RunConfig(method="head", **base), lambda e: None)["features_cached"] > 0
    # ... and the same body in 4 bits computes its own (no other test trains the head on a 4-bit body)
    assert train(RunConfig(method="head", quantize="nf4", **base), lambda e: None)["features_cached"] == 0


def test_fallbacks_only_change_what_keeps_the_run_the_same_or_says_so():
    from ftlab.queue.fallback import next_fallback

    allowed = ("batch", "checkpointing", "quantize")
    odd = RunConfig(model="tiny", batch_size=5, oom_fallbacks=allowed)
    assert next_fallback(odd)[1] == "gradient checkpointing"  # 5 does not halve into the same effective batch
    capped = RunConfig(model="tiny", batch_size=4, grad_accum=1024, oom_fallbacks=("batch",))
    assert next_fallback(capped) is None
    prefix = RunConfig(model="tiny", method="prefix", oom_fallbacks=("checkpointing", "quantize"))
    assert next_fallback(prefix)[1] == "an nf4 base"  # peft cannot checkpoint prefix tuning
    with pytest.raises(ConfigError, match="gradient checkpointing"):
        RunConfig(model="tiny", method="prefix", gradient_checkpointing=True)
    continued = RunConfig(model="tiny", init_from=3, batch_size=1, gradient_checkpointing=True, oom_fallbacks=allowed)
    assert next_fallback(continued) is None  # a continued run keeps its parent's base
