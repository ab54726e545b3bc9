"""`ftlab push`: a run's export reaches a Hub model repo through huggingface_hub, tested against a
local stub of the Hub's commit API (repo creation, preupload, commit); offline and refused tokens
are one line within seconds."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ftlab import service
from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from hub_stub import FakeHub, hub_api  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny full run and a LoRA run with their database."""
    from keyword_data import write_keyword_csv

    folder = tmp_path_factory.mktemp("push")
    csv = write_keyword_csv(folder / "kw.csv")
    db = str(folder / "lab.duckdb")
    with Store(db) as store:
        ids = {}
        for method in ("full", "prompt"):
            run_id, _, err = service.train_now(RunConfig(model="tiny", dataset=str(csv), method=method, max_train=32,
                                                         max_eval=16, max_steps=1), store, db_path=db)
            assert err is None
            ids[method] = run_id
    return db, ids


def test_push_uploads_the_export_with_its_card(trained, tmp_path, monkeypatch):
    db, ids = trained
    hub = FakeHub()
    with hub_api(hub.get, hub.post) as (url, asked):
        hub.url = url
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        with service.Lab(db) as lab:
            link = lab.push(ids["full"], "alice/keywords-full", token="hf_test", private=True)
            with pytest.raises(FtlabError, match="use --format adapter"):  # prompt tuning cannot merge
                lab.push(ids["prompt"], "alice/p", fmt="merged", token="hf_test")
            lab.push(ids["prompt"], "alice/keywords-prompt", token="hf_test")  # auto: the adapter
            local = lab.export(ids["full"], "merged", str(tmp_path / "local"))
    assert link == f"{url}/alice/keywords-full"
    assert hub.created[0]["name"] == "keywords-full" and hub.created[0]["organization"] == "alice"
    assert hub.created[0].get("visibility") == "private" or hub.created[0].get("private") is True
    full, prompt = hub.commits
    assert full["repo"] == "alice/keywords-full" and f"ftlab run {ids['full']}: full on tiny" in full["summary"]
    # the same bytes as an export to a local folder (the model card aside: it is written afresh, identically)
    for path in Path(local).iterdir():
        assert full["files"][path.name] == path.read_bytes(), path.name
    card = yaml.safe_load(full["files"]["README.md"].decode().split("---")[1])
    assert card["library_name"] == "transformers" and card["model-index"][0]["results"][0]["metrics"]
    assert "adapter_config.json" in prompt["files"] and "adapter_model.safetensors" in prompt["files"]
    assert "POST /api/models/alice/keywords-full/preupload/main" in asked


def test_push_fails_in_one_line(trained, monkeypatch):
    db, ids = trained
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ftlab", "push", str(ids["full"]), "--repo", "alice/x", "--db", db],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith(f"cannot push run {ids['full']} to the Hub: HF_HUB_OFFLINE is set")
    assert time.monotonic() - start < 60  # the interpreter and imports; no retries against a Hub that is not there
    hub = FakeHub(refuse=True)
    with hub_api(hub.get, hub.post) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        with service.Lab(db) as lab:
            with pytest.raises(FtlabError, match="the Hub did not accept the token"):
                lab.push(ids["full"], "alice/x", token="hf_wrong")
            with pytest.raises(FtlabError, match="expected USER/NAME"):
                lab.push(ids["full"], "no-user", token="hf_test")
    assert hub.commits == []
