"""Exports load with peft / transformers alone and predict what ftlab predicts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ftlab import service
from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.store import Store
from ftlab.train import artifacts

TEXTS = ["what a wonderful film", "a terrible plot and a terrible ending", "the music was okay"]

# Runs in a fresh interpreter whose path holds site-packages but not this repository.
LOADER = r"""
import json, sys
exports, texts = json.loads(sys.argv[1]), json.loads(sys.argv[2])
try:
    import ftlab  # noqa: F401
    raise SystemExit("ftlab is importable: the check would prove nothing")
except ImportError:
    pass
import torch
from transformers import AutoTokenizer, pipeline
out = []
for folder, fmt in exports:
    tok = AutoTokenizer.from_pretrained(folder)
    if fmt == "merged":
        clf = pipeline("text-classification", model=folder, tokenizer=tok, top_k=None)
        out.append([{r["label"]: r["score"] for r in row} for row in clf(texts)])
        continue
    from peft import AutoPeftModelForSequenceClassification
    meta = json.load(open(folder + "/ftlab_run.json"))
    # the base by its Hub id, from this machine's Hub cache (HF_HUB_OFFLINE): what a user with the Hub gets
    model = AutoPeftModelForSequenceClassification.from_pretrained(
        folder, num_labels=len(meta["label_names"])).eval()
    with torch.no_grad():
        probs = model(**tok(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
    out.append([dict(zip(meta["label_names"], row)) for row in probs.tolist()])
print(json.dumps(out))
"""


def hub_cache(root: Path, repo: str, folder: str) -> Path:
    """A Hugging Face cache (HF_HOME) holding `folder`'s files as the Hub repo `repo`, as a download would."""
    revision = "0" * 40
    entry = root / "hub" / ("models--" + repo.replace("/", "--"))
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(revision)
    snapshot = entry / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for f in Path(folder).iterdir():
        if f.is_file():
            (snapshot / f.name).symlink_to(f)
    return root


def _load_elsewhere(exports: list[tuple[str, str]], tmp_path):
    """Each (folder, format) loaded in one fresh interpreter that cannot import ftlab, offline, with the
    embedded MiniLM in its Hub cache under its Hub id: their probabilities."""
    from ftlab.models import BUILTIN, minilm_path

    script = tmp_path / "load_export.py"
    script.write_text(LOADER)
    home = hub_cache(tmp_path / "hf", BUILTIN["minilm"].hub_id, minilm_path())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HOME=str(home), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-I", str(script), json.dumps(exports), json.dumps(TEXTS)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


EXPORTS = [("tiny", "full", "merged"), ("tiny", "lora", "merged"), ("minilm", "lora", "adapter")]


def test_exports_predict_what_ftlab_predicts(keyword_csv, tmp_path):
    """A merged full run, a merged LoRA run and a LoRA adapter, each loaded by transformers / peft alone."""
    db = str(tmp_path / "lab.duckdb")
    folders, ours = [], []
    for model, method, fmt in EXPORTS:
        with Store(db) as store:
            run_id, summary, err = service.train_now(RunConfig(model=model, dataset=keyword_csv, method=method,
                                                               max_train=96, max_eval=24, batch_size=16, max_steps=6),
                                                     store, db_path=db)
            assert err is None
            record = store.get_run(run_id)
        art = service.Lab.resolve_artifacts(db, record["artifact_dir"])
        ours.append([p["probs"] for p in artifacts.load(art).predict(TEXTS)])
        with service.Lab(db) as lab:
            folder = lab.export(run_id, fmt, str(tmp_path / f"export-{run_id}"))
        names = {p.name for p in Path(folder).iterdir()}
        assert ("adapter_config.json" in names) == (fmt == "adapter") and "README.md" in names
        card = (Path(folder) / "README.md").read_text()
        meta = yaml.safe_load(card.split("---")[1])
        if model == "minilm":  # a built-in is named by its public Hub id, never this machine's path
            assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
        if fmt == "adapter":
            saved = json.loads((Path(folder) / "adapter_config.json").read_text())
            assert saved["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
            assert len(saved["modules_to_save"]) == len(set(saved["modules_to_save"]))
            assert "AutoPeftModelForSequenceClassification.from_pretrained('THIS_FOLDER', num_labels=3" in card
        # each card shows the one way its format loads
        assert ("pipeline(" in card) == (fmt == "merged") and ("AutoPeftModel" in card) == (fmt == "adapter")
        metric = meta["model-index"][0]["results"][0]["metrics"][0]
        assert metric["type"] == "accuracy" and metric["value"] == pytest.approx(summary["accuracy"], abs=1e-4)
        folders.append((folder, fmt))
    for (model, method, fmt), mine_rows, their_rows in zip(EXPORTS, ours, _load_elsewhere(folders, tmp_path)):
        for mine, other in zip(mine_rows, their_rows):  # the same probabilities, label by label (ftlab rounds to 4)
            assert set(mine) == set(other), (model, method, fmt)
            assert all(other[k] == pytest.approx(v, abs=2e-4) for k, v in mine.items()), (model, method, fmt)


def test_exports_that_cannot_work_are_refused_with_what_to_use(keyword_csv, tmp_path, capsys):
    db = str(tmp_path / "lab.duckdb")
    with Store(db) as store:
        full_id, _, _ = service.train_now(RunConfig(model="tiny", dataset=keyword_csv, method="full", max_train=32,
                                                    max_eval=16, max_steps=1), store, db_path=db)
        prompt_id, _, _ = service.train_now(RunConfig(model="tiny", dataset=keyword_csv, method="prompt", max_train=32,
                                                      max_eval=16, max_steps=1), store, db_path=db)
    # the command line: one line naming the folder, or one line saying why not
    done = subprocess.run([sys.executable, "-m", "ftlab", "export", str(full_id), "--format", "merged", "--out",
                           str(tmp_path / "cli"), "--db", db], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith(f"run {full_id} exported as merged to "), done.stderr[-500:]
    from ftlab import cli

    capsys.readouterr()  # what training printed before: only the command's own output counts below
    assert cli.main(["export", str(full_id), "--format", "adapter", "--out", str(tmp_path / "cli2"), "--db", db]) != 0
    err = capsys.readouterr().err.strip()
    assert "use --format merged" in err and "\n" not in err and "Traceback" not in err
    with service.Lab(db) as lab:
        with pytest.raises(FtlabError, match="use --format merged"):
            lab.export(full_id, "adapter", str(tmp_path / "a"))
        with pytest.raises(FtlabError, match="cannot be folded into the weights: use --format adapter"):
            lab.export(prompt_id, "merged", str(tmp_path / "b"))
