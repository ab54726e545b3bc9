"""Take a trained run home: standard folders that peft or transformers load without ftlab.

- `adapter`: a peft folder (adapter_config.json, adapter_model.safetensors, the task head in
  modules_to_save) for the methods peft implements; `PeftModel.from_pretrained(base, DIR)`.
- `merged`: a plain transformers folder (the adapter folded into the weights where the method
  allows it, the tokenizer, id2label/label2id) that `AutoModelFor...Classification` and
  `transformers.pipeline` load.
Both carry a Hub model card (README.md with model-index results). A combination that cannot
work (prompt-learning methods cannot merge; full fine-tuning has no adapter; the Houlsby adapter
is ftlab's own module) is refused with the reason and what to use instead; `auto` picks merged
where the method allows it, else adapter.

`push` uploads an export to a Hub model repo with huggingface_hub (HF_ENDPOINT, the token given or
the machine's login); an unreachable Hub is one line within seconds (ftlab.hub).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import yaml

from ftlab import models
from ftlab.errors import FtlabError
from ftlab.tasks import answer_end_id, get_task
from ftlab.train import artifacts

FORMATS = ("adapter", "merged")
CHOICES = FORMATS + ("auto",)
PROMPT_LEARNING = {"prefix", "prompt", "ptuning"}


def _is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def refusal(method: str, is_peft: bool, fmt: str) -> str | None:
    """Why `method` cannot be exported as `fmt`, or None."""
    if fmt == "adapter" and not is_peft:
        return (f"{method} is not a peft adapter (it changes the model's own weights or adds ftlab's own modules): "
                "use --format merged" + ("" if method != "adapter" else "; the Houlsby adapter has no standard export yet"))
    if fmt == "merged" and method in PROMPT_LEARNING:
        return f"{method} adds virtual tokens, which cannot be folded into the weights: use --format adapter"
    if fmt == "merged" and method == "adapter":
        return ("the Houlsby adapter adds bottleneck layers, which cannot be folded into the weights; "
                "predict with ftlab (the run's folder) instead")
    return None


def model_card(run: dict, fmt: str, base: str, chat_template: bool = True, end_token: int | None = None) -> str:
    """A Hub model card: YAML metadata (model-index with the run's test scores) and how to load it
    (a generative run: how to ask it, with its template and the token its answers end on)."""
    task = get_task(run.get("task") or run["config"].get("task"))
    pipeline = task.pipeline
    metrics = task.card_metrics
    summary = run.get("summary") or {}
    values = [{"type": t, "value": round(float(summary.get(k, run.get(k))), 4), "name": n}
              for t, k, n in metrics if summary.get(k, run.get(k)) is not None]
    dataset = run["config"]["dataset"]
    meta = {
        "library_name": "peft" if fmt == "adapter" else "transformers",
        "base_model": base,
        "pipeline_tag": pipeline,
        "tags": ["ftlab", run["config"]["method"], pipeline],
        "model-index": [{"name": f"ftlab-run-{run.get('id')}", "results": [{
            "task": {"type": pipeline, "name": pipeline.replace("-", " ").title()},
            "dataset": {"name": dataset, "type": dataset},
            "metrics": values}]}],
    }
    versions = run.get("versions") or {}
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "",
             f"# {run['config']['method']} on {run['config']['model']}, {dataset}", "",
             f"Trained with ftlab (run {run.get('id')}): method `{run['config']['method']}`, "
             f"{run.get('trainable_params') or summary.get('trainable_params') or 0:,} trainable parameters of "
             f"{run.get('total_params') or summary.get('total_params') or 0:,}, seed {run['config'].get('seed')}.", "",
             "| test metric | value |", "|---|---|"] + [f"| {v['name']} | {v['value']} |" for v in values] + [""]
    if task.generate is not None:  # a generative run: load it and let it answer
        load = ("from peft import AutoPeftModelForCausalLM as Model" if fmt == "adapter"
                else "from transformers import AutoModelForCausalLM as Model")
        if chat_template:
            ask = ["chat = [{'role': 'user', 'content': 'YOUR QUESTION'}]",
                   "inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors='pt',",
                   "                                       return_dict=True)"]
        else:  # the plain template ftlab trained with
            ask = ["prompt = '### Instruction:\\nYOUR QUESTION\\n\\n### Response:\\n'",
                   "inputs = tokenizer(prompt, add_special_tokens=False, return_tensors='pt')"]
        lines += ["```python", load, "from transformers import AutoTokenizer", "",
                  "tokenizer = AutoTokenizer.from_pretrained('THIS_FOLDER')",
                  "model = Model.from_pretrained('THIS_FOLDER')", *ask,
                  f"out = model.generate(**inputs, max_new_tokens=128, do_sample=False, eos_token_id={end_token})",
                  "print(tokenizer.decode(out[0, inputs['input_ids'].shape[1]:], skip_special_tokens=True))", "```"]
    elif fmt == "adapter":
        labels = list(run.get("label_names") or [])
        auto_peft = "AutoPeftModelFor" + task.auto_class.removeprefix("AutoModelFor")
        lines += ["```python", f"from peft import {auto_peft}", "",
                  f"# the base ({base}) has no head for these {len(labels)} labels: say how many there are",
                  f"model = {auto_peft}.from_pretrained('THIS_FOLDER', num_labels={len(labels)},",
                  f"    id2label={dict(enumerate(labels))!r})", "```"]
    else:
        lines += ["```python", "from transformers import pipeline", "",
                  f"predict = pipeline({pipeline!r}, model='THIS_FOLDER')", "```"]
    info = models.BUILTIN.get(run["config"]["model"])
    if info and info.packed:
        lines += ["", f"Trained on ftlab's packaged copy of `{base}` ({info.packed}); on the Hub's original "
                  "weights its scores differ slightly."]
    if versions:
        lines += ["", "Library versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())
                                                      if isinstance(v, str)) + "."]
    lines += ["", "The run's full config is in `ftlab_run.json`."]
    return "\n".join(lines) + "\n"


def _portable_adapter_config(path: Path, base: str) -> None:
    """The saved adapter config as another machine reads it: the base model by its public name (a
    built-in's Hub repo, not this machine's site-packages path), each module trained in full named
    once (peft adds the task head a second time to the ones a method names)."""
    data = json.loads(path.read_text())
    data["base_model_name_or_path"] = base
    if data.get("modules_to_save"):
        data["modules_to_save"] = list(dict.fromkeys(data["modules_to_save"]))
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def export(artifact_dir: str, fmt: str, out_dir: str, run: dict) -> str:
    """Write run `run` (its artifacts in `artifact_dir`) as `fmt` into `out_dir`; returns the folder."""
    if fmt not in CHOICES:
        raise FtlabError(f"unknown export format {fmt!r}: use {', '.join(CHOICES)}")
    predictor = artifacts.load(artifact_dir)
    if fmt != "adapter" and predictor.config.quantize != "none":
        # merged: the method folded into the weights the quantized base rounded to, in plain layers
        predictor = artifacts.load(artifact_dir, dequantize=True)
    model, method = predictor.model, predictor.config.method
    peft_backed = _is_peft(model)
    if fmt == "auto":
        fmt = "adapter" if peft_backed and refusal(method, peft_backed, "merged") else "merged"
    reason = refusal(method, peft_backed, fmt)
    if reason:
        raise FtlabError(f"run {run.get('id')}: {reason}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FtlabError(f"{out} is not empty: export into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    base = models.public_name(predictor.config.model)
    if fmt == "adapter":
        model.save_pretrained(str(out))
        _portable_adapter_config(out / "adapter_config.json", base)
    else:
        plain = model.merge_and_unload() if peft_backed else model
        labels = list(predictor.label_names)
        if labels:  # a classifier's label names; a generative model keeps its own config
            plain.config.id2label = dict(enumerate(labels))
            plain.config.label2id = {name: i for i, name in enumerate(labels)}
        plain.save_pretrained(str(out))
    predictor.tokenizer.save_pretrained(str(out))
    generative = get_task(predictor.config.task).generate is not None
    (out / "README.md").write_text(model_card(
        run, fmt, base, chat_template=bool(getattr(predictor.tokenizer, "chat_template", None)),
        end_token=answer_end_id(predictor.tokenizer) if generative else None))
    shutil.copy(Path(artifact_dir) / artifacts.META, out / "ftlab_run.json")
    return str(out.resolve())


def push(artifact_dir: str, run: dict, repo: str, *, fmt: str = "auto", token: str | None = None,
         private: bool = False) -> str:
    """Export run `run` as `fmt` and upload it to the Hub model repo `repo` ("user/name"), created
    if missing. Returns the repo's URL. Every failure is one line: offline, a bad name, a refused token."""
    import tempfile

    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError
    from huggingface_hub.utils import validate_repo_id

    from ftlab import hub

    try:
        validate_repo_id(repo)
    except HFValidationError:
        raise FtlabError(f"--repo {repo!r}: expected USER/NAME (letters, digits, '-', '_', '.')") from None
    if "/" not in repo:
        raise FtlabError(f"--repo {repo!r}: expected USER/NAME, e.g. alice/{repo}")
    reason = hub.offline_reason()
    if reason:
        raise FtlabError(f"cannot push run {run.get('id')} to the Hub: {reason}")
    config = run["config"]
    message = f"ftlab run {run.get('id')}: {config['method']} on {config['model']}, {config['dataset']}"
    with tempfile.TemporaryDirectory(prefix="ftlab-push-") as tmp:
        folder = export(artifact_dir, fmt, str(Path(tmp) / "export"), run)
        api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
        try:
            url = api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
            api.upload_folder(folder_path=folder, repo_id=repo, repo_type="model", commit_message=message)
        except HfHubHTTPError as err:
            status = getattr(err.response, "status_code", None)
            why = {401: "the Hub did not accept the token (sign in, or set HF_TOKEN)",
                   403: f"this token may not write to {repo}"}.get(status, str(err).splitlines()[0])
            raise FtlabError(f"push to {repo} failed: {why}") from None
    return str(url)
