"""A generative run's adapter and merged exports load with plain transformers / peft (in a fresh
interpreter that cannot import ftlab) and write the same greedy answers as ftlab."""

import json
import os
import subprocess
import sys

import yaml

from ftlab import models, service
from ftlab.config import RunConfig
from ftlab.store import Store
from ftlab.tasks import sft
from ftlab.train import artifacts

QUESTIONS = ["the movie plot good scene night", "a film story music ending city", "people day good time actor the"]

LOADER = r"""
import json, sys
exports, base, prompts, end = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
try:
    import ftlab  # noqa: F401
    raise SystemExit("ftlab is importable: the check would prove nothing")
except ImportError:
    pass
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
out = []
for folder, fmt in exports:
    tok = AutoTokenizer.from_pretrained(folder)
    if fmt == "merged":
        model = AutoModelForCausalLM.from_pretrained(folder)
    else:
        from peft import PeftModel
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), folder)
    model.eval()
    answers = []
    for prompt in prompts:
        ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            new = model.generate(input_ids=ids, max_new_tokens=6, do_sample=False, eos_token_id=end,
                                 pad_token_id=tok.pad_token_id)[0, ids.shape[1]:].tolist()
        answers.append(tok.decode(new[:new.index(end)] if end in new else new, skip_special_tokens=True).strip())
    out.append(answers)
print(json.dumps(out))
"""


def test_generative_exports_write_what_ftlab_writes(qa_jsonl, tmp_path):
    db = str(tmp_path / "lab.duckdb")
    with Store(db) as store:
        run_id, summary, err = service.train_now(
            RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="lora", lr=3e-2, epochs=3, batch_size=16,
                      max_eval=8), store, db_path=db)
        assert err is None and summary["accuracy"] > 0.5
        record = store.get_run(run_id)
    predictor = artifacts.load(service.Lab.resolve_artifacts(db, record["artifact_dir"]))
    ours = [p["generation"] for p in predictor.predict(QUESTIONS)]
    assert set(ours) <= {"yes", "no"} and len(set(ours)) == 2  # a trained answer, not noise
    assert list(predictor.stream(QUESTIONS[0]))[-1] == ours[0]  # the Playground's stream ends on the same answer

    exports = []
    with service.Lab(db) as lab:
        for fmt in ("adapter", "merged"):
            folder = lab.export(run_id, fmt, str(tmp_path / f"export-{fmt}"))
            card = (tmp_path / f"export-{fmt}" / "README.md").read_text()
            meta = yaml.safe_load(card.split("---")[1])
            assert meta["pipeline_tag"] == "text-generation" and "model.generate(" in card
            assert meta["model-index"][0]["results"][0]["metrics"][0]["type"] == "exact_match"
            exports.append((folder, fmt))
    tokenizer = models.load_tokenizer("tiny-llama")
    base = tmp_path / "base"  # the random base, as the run built it (a Hub model would be named instead)
    models.load_model("tiny-llama", "sft", [], tokenizer, seed=0).save_pretrained(base)
    prompts = [sft.render(tokenizer, [{"role": "user", "content": q}])[0] for q in QUESTIONS]
    script = tmp_path / "load.py"
    script.write_text(LOADER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-I", str(script), json.dumps(exports), str(base), json.dumps(prompts),
                           str(sft.end_id(tokenizer))], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    adapter, merged = json.loads(done.stdout.strip().splitlines()[-1])
    assert adapter == ours and merged == ours
