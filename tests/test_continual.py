"""Continual fine-tuning: a run continues another's weights on new data and reports forgetting."""

import pytest
from conftest import write_keyword_csv

from ftlab import service
from ftlab.config import RunConfig
from ftlab.store import Store

SECOND_TASK = {"good": "superb", "bad": "awful", "meh": "fine"}  # same labels, other keywords


@pytest.fixture(scope="module")
def second_task(tmp_path_factory):
    return write_keyword_csv(tmp_path_factory.mktemp("data") / "second.csv", SECOND_TASK, n=300, seed=1)


def test_a_continued_run_starts_from_the_parent_and_reports_forgetting(keyword_csv, second_task, tmp_path):
    db = str(tmp_path / "lab.duckdb")
    base = dict(model="tiny", method="full", max_train=240, max_eval=60, batch_size=16, epochs=4, lr=3e-3)
    with Store(db) as store:
        parent_id, parent, err = service.train_now(RunConfig(dataset=keyword_csv, **base), store, db_path=db)
        assert err is None
        child_id, child, err = service.train_now(RunConfig(dataset=second_task, init_from=parent_id, **base), store,
                                                 db_path=db)
        assert err is None
        # it started from exactly the parent's weights: the parent's test split scores what the parent scored
        assert child["old_task_before"] == pytest.approx(parent["accuracy"])
        assert child["init_from"] == parent_id
        assert child["forgetting"] == pytest.approx(child["old_task_before"] - child["old_task_after"])
        assert child["new_task_gain"] == pytest.approx(child["accuracy"] - child["new_task_before"])
        assert child["new_task_gain"] > 0.1  # it learned the new keywords
        # a chain: continue the continued run
        _, grandchild, err = service.train_now(RunConfig(dataset=keyword_csv, init_from=child_id, **base), store,
                                               db_path=db)
        assert err is None and grandchild["init_from"] == child_id
        record = store.get_run(child_id)
        assert record["config"]["init_from"] == parent_id and record["summary"]["forgetting"] == child["forgetting"]


def test_continuing_needs_the_same_labels_model_and_method(keyword_csv, names_conll, tmp_path):
    db = str(tmp_path / "lab.duckdb")
    base = dict(model="tiny", max_train=64, max_eval=20, batch_size=16, max_steps=2)
    with Store(db) as store:
        parent_id, _, err = service.train_now(RunConfig(dataset=keyword_csv, method="lora", **base), store, db_path=db)
        assert err is None
        _, _, err = service.train_now(RunConfig(dataset=keyword_csv, method="full", init_from=parent_id, **base), store,
                                      db_path=db)
        assert "same model and method" in err
        _, _, err = service.train_now(RunConfig(dataset=names_conll, method="lora", init_from=parent_id, **base),
                                      store, db_path=db)
        assert "same label names" in err
        _, _, err = service.train_now(RunConfig(dataset=keyword_csv, method="lora", init_from=999, **base), store,
                                      db_path=db)
        assert "run 999 has no saved weights" in err


def test_runs_json_carries_init_from_and_forgetting(keyword_csv, second_task, tmp_path):
    import json
    import subprocess
    import sys

    db = str(tmp_path / "lab.duckdb")
    base = dict(model="tiny", method="full", max_train=64, max_eval=20, batch_size=16, max_steps=2)
    with Store(db) as store:
        parent_id, _, _ = service.train_now(RunConfig(dataset=keyword_csv, **base), store, db_path=db)
        child_id, child, err = service.train_now(RunConfig(dataset=second_task, init_from=parent_id, **base), store,
                                                 db_path=db)
        assert err is None
    out = subprocess.run([sys.executable, "-m", "ftlab", "runs", "--db", db, "--json"], capture_output=True, text=True,
                         check=True).stdout
    runs = {r["id"]: r for r in json.loads(out)}
    assert runs[child_id]["init_from"] == parent_id and runs[child_id]["forgetting"] == pytest.approx(child["forgetting"])
    assert runs[parent_id]["init_from"] is None and runs[parent_id]["forgetting"] is None
