"""Modes, caps, sign-in and ownership: the rules a public dashboard enforces in the service."""

from pathlib import Path

import pytest

from ftlab.config import RunConfig
from ftlab.errors import ConfigError
from ftlab.policy import DEMO_CAPS, Policy, PermissionDenied
from ftlab.service import Lab


def cfg(**kw):
    base = dict(model="tiny", dataset="tweets-sentiment", method="lora", max_train=64, max_eval=32, max_steps=2, epochs=1)
    return RunConfig(**{**base, **kw})


def test_modes_from_the_environment():
    assert Policy.from_env({}) == Policy()
    assert Policy().can_launch and not Policy().require_login and Policy().caps is None
    demo = Policy.from_env({"FTLAB_MODE": "demo"})
    assert demo.caps == DEMO_CAPS and demo.max_active_per_user == 3 and not demo.require_login
    on_space = Policy.from_env({"FTLAB_MODE": "demo", "SPACE_ID": "me/ftlab"})
    assert on_space.require_login and on_space.owner_only
    board = Policy.from_env({"FTLAB_MODE": "leaderboard", "SPACE_ID": "me/ftlab", "FTLAB_REQUIRE_LOGIN": "1"})
    assert not board.can_launch and not board.require_login  # nothing to sign in for
    assert Policy.from_env({"FTLAB_MODE": "ZeroGPU"}).mode == "zerogpu"
    tuned = Policy.from_env({"FTLAB_MODE": "demo", "FTLAB_MAX_JOBS_PER_USER": "5", "FTLAB_TIME_BUDGET_S": "60",
                             "FTLAB_REQUIRE_LOGIN": "yes"})
    assert (tuned.max_active_per_user, tuned.caps.time_budget_s, tuned.require_login) == (5, 60.0, True)
    for env, field in (({"FTLAB_MODE": "party"}, "FTLAB_MODE"), ({"FTLAB_MAX_JOBS_PER_USER": "many"}, "FTLAB_MAX_JOBS"),
                       ({"FTLAB_TIME_BUDGET_S": "-1"}, "FTLAB_TIME_BUDGET_S"), ({"FTLAB_REQUIRE_LOGIN": "maybe"}, "LOGIN")):
        with pytest.raises(ConfigError, match=field):
            Policy.from_env(env)


def test_leaderboard_and_sign_in_refuse_launches():
    with pytest.raises(PermissionDenied, match="read-only"):
        Policy.for_mode("leaderboard").admit([cfg()], "ann", [])
    with pytest.raises(PermissionDenied, match="sign in"):
        Policy.for_mode("demo", on_space=True).admit([cfg()], None, [])
    assert len(Policy.for_mode("demo", on_space=True).admit([cfg()], "ann", [])) == 1


def test_caps_refuse_with_every_reason_and_set_the_time_budget(tmp_path):
    demo = Policy.for_mode("demo")
    (admitted,) = demo.admit([cfg()], "ann", [])
    assert admitted.time_budget_s == DEMO_CAPS.time_budget_s  # a job without a budget gets the cap's
    assert demo.admit([cfg(time_budget_s=30)], "ann", [])[0].time_budget_s == 30
    assert demo.admit([cfg(time_budget_s=9999)], "ann", [])[0].time_budget_s == DEMO_CAPS.time_budget_s
    with pytest.raises(ConfigError) as err:
        demo.admit([cfg(max_train=50_000, epochs=3, batch_size=64)], "ann", [])
    text = str(err.value)
    assert "max_train is capped at 2,000 (got 50,000)" in text and "epochs is capped at 1" in text
    assert "batch_size is capped at 32" in text and "\n" not in text
    with pytest.raises(ConfigError, match="max_eval is capped at 1,000 \\(got all\\)"):
        demo.admit([cfg(max_eval=None)], "ann", [])
    with pytest.raises(ConfigError, match="model 'tiny-gpt2' is not allowed here"):
        demo.admit([cfg(model="tiny-gpt2")], "ann", [])


def test_only_uploads_and_built_in_datasets_under_caps(tmp_path, keyword_csv):
    demo = Policy.for_mode("demo")
    uploads = tmp_path / "lab-uploads"
    uploads.mkdir()
    inside = uploads / "upload-1.csv"
    inside.write_text(open(keyword_csv).read())
    assert demo.admit([cfg(dataset=str(inside))], "ann", [], uploads=str(uploads))
    for spec in (keyword_csv, str(uploads / ".." / "lab-uploads" / ".." / "x.csv")):
        with pytest.raises(ConfigError, match="only built-in or uploaded datasets"):
            demo.check_dataset(spec, str(uploads))
    with pytest.raises(ConfigError, match="only built-in or uploaded datasets"):
        demo.check_dataset("someone/some-hub-dataset", str(uploads))
    Policy.for_mode("zerogpu").check_dataset("tweets-sentiment", None)


def test_jobs_per_user_and_ownership():
    demo = Policy.for_mode("demo", on_space=True)
    jobs = [{"id": "j1", "owner": "ann", "status": "running"}, {"id": "j2", "owner": "ann", "status": "queued"},
            {"id": "j3", "owner": "ann", "status": "succeeded"}, {"id": "j4", "owner": "bob", "status": "queued"}]
    assert len(demo.admit([cfg()], "ann", jobs)) == 1  # 2 active + 1 = 3
    with pytest.raises(PermissionDenied, match="at most 3 queued or running jobs per user: you have 2, this adds 2"):
        demo.admit([cfg(), cfg(seed=1)], "ann", jobs)
    demo.check_owner(jobs[3], "bob", "cancel")
    with pytest.raises(PermissionDenied, match="only your own jobs \\(job j4 is bob's\\)"):
        demo.check_owner(jobs[3], "ann", "cancel")
    with pytest.raises(PermissionDenied, match="sign in"):
        demo.check_owner(jobs[3], None, "cancel")
    Policy().check_owner(jobs[3], None, "cancel")  # local: one user, everything open


def test_lab_enforces_the_policy(tmp_path):
    policy = Policy.for_mode("demo", require_login=True)
    with Lab(str(tmp_path / "lab.duckdb"), policy=policy) as lab:
        with pytest.raises(PermissionDenied):
            lab.submit([cfg()])
        with pytest.raises(ConfigError):
            lab.submit([cfg(), cfg(max_train=10_000)], owner="ann")
        assert lab.jobs() == []  # all or nothing
        (job_id,) = lab.submit([cfg()], owner="bob")
        job = lab.jobs()[0]
        assert (job["owner"], job["config"]["time_budget_s"]) == ("bob", DEMO_CAPS.time_budget_s)
        with pytest.raises(PermissionDenied, match="bob's"):
            lab.cancel(job_id, user="ann")
        with pytest.raises(PermissionDenied):
            lab.set_priority(job_id, 5, user="ann")
        assert "cancel" in lab.cancel(job_id, user="bob")
        assert lab.jobs()[0]["status"] == "canceled"
        with pytest.raises(ConfigError, match="only built-in or uploaded"):
            lab.dataset_card("/etc/passwd")


# ---- what a visitor may take of another's run, and uploads (the outside test's faults 2 and 3) ----

def test_another_visitors_weights_and_logs_are_refused_at_every_endpoint(shared, tmp_path):
    lab, ann_run, public_run = shared
    assert lab.run_owner(ann_run) == "ann" and lab.run_owner(public_run) is None
    takes = {
        "predict": lambda user: lab.predict(ann_run, ["good film"], user=user),
        "download": lambda user: lab.weights_path(ann_run, user=user),
        "export": lambda user: lab.export(ann_run, "adapter", str(tmp_path / f"export-{user}"), user=user),
        "push": lambda user: lab.push(ann_run, f"{user}/stolen", user=user),
        "continue": lambda user: lab.continue_run(ann_run, "tweets-sentiment", owner=user),
        "job log": lambda user: lab.job_log("jann", user=user),
        "test generations": lambda user: lab.generations(ann_run, user=user),  # a generative run's test data
    }
    for name, take in takes.items():
        with pytest.raises(PermissionDenied, match="are ann's"):
            take("bob")
        with pytest.raises(PermissionDenied, match="sign in"):
            take(None)
        assert not (tmp_path / "export-bob").exists()
    assert lab.predict(ann_run, ["good film"], user="ann")["predictions"]
    assert Path(lab.weights_path(ann_run, user="ann")).is_dir()
    assert "ann's worker log" in lab.job_log("jann", user="ann")
    # scores and configs are public; logs and the weights' folder are not
    seen = lab.run_detail(ann_run, user="bob")
    assert seen["private"] and seen["run"]["logs"] == [] and seen["run"]["artifact_dir"] is None
    assert seen["generations"].empty
    assert seen["run"]["accuracy"] is not None and seen["run"]["config"]["method"] == "head"
    own = lab.run_detail(ann_run, user="ann")
    assert not own["private"] and own["run"]["logs"] and own["run"]["artifact_dir"]
    assert next(j for j in lab.jobs_view("bob") if j["id"] == "jann")["last_log"] is None
    assert next(j for j in lab.jobs_view("ann") if j["id"] == "jann")["last_log"] == "ann's tail"
    # nor can bob start from ann's weights by naming her run in a launch (init_from)
    with pytest.raises(PermissionDenied, match="are ann's"):
        lab.submit([cfg(method="head", init_from=ann_run)], owner="bob")
    assert {j["id"] for j in lab.jobs()} == {"jann"}
    # the Playground offers bob only what he may use
    assert [r["id"] for r in lab.usable_runs("bob")] == [public_run]
    assert sorted(r["id"] for r in lab.usable_runs("ann")) == sorted([ann_run, public_run])
    # a run nobody owns is the dashboard's own: anyone may use it
    assert lab.predict(public_run, ["good film"], user="bob")["predictions"]
    assert not lab.run_detail(public_run, user=None)["private"]
    # local use: one user, everything open
    local = Policy()
    local.check_private("ann", None, "trained weights", "run 1")


def test_uploads_follow_the_launch_rules_a_quota_and_a_retention(shared, tmp_path, keyword_csv):
    import dataclasses
    import os
    import time

    from ftlab import uploads

    lab, _, _ = shared
    with pytest.raises(PermissionDenied, match="sign in with Hugging Face to upload"):
        lab.save_upload(keyword_csv, user=None)
    assert not uploads.root(lab.db_path).exists() or not any(uploads.root(lab.db_path).rglob("upload-*"))
    mine = lab.save_upload(keyword_csv, user="ann")
    assert Path(mine).parent == uploads.folder(lab.db_path, "ann").resolve()
    # another visitor's upload is refused for a card, an estimate check and a launch
    with pytest.raises(PermissionDenied, match="another visitor's upload"):
        lab.dataset_card(mine, user="bob")
    with pytest.raises(PermissionDenied, match="another visitor's upload"):
        lab.submit([cfg(dataset=mine)], owner="bob")
    assert lab.dataset_card(mine, user="ann")["sizes"]["train"] > 0
    # the quota counts what the user keeps
    lab.policy = dataclasses.replace(lab.policy, upload_quota_mb=(Path(mine).stat().st_size * 1.5) / 2**20)
    with pytest.raises(PermissionDenied, match="MB of uploads per user"):
        lab.save_upload(keyword_csv, user="ann")
    # retention: an old upload no job or run names goes; one a job names stays
    lab.policy = dataclasses.replace(lab.policy, upload_quota_mb=None, upload_retention_s=3600)
    used = lab.save_upload(keyword_csv, user="ann")
    lab.submit([cfg(dataset=used)], owner="ann")
    old = time.time() - 7200
    for path in (mine, used):
        os.utime(path, (old, old))
    assert lab.sweep_uploads() == [mine]
    assert not Path(mine).exists() and Path(used).exists()
    stale = lab.save_upload(keyword_csv, user="ann")  # and a quiet dashboard sweeps too, hourly, as it lists jobs
    os.utime(stale, (old, old))
    lab._swept = time.monotonic() - lab.SWEEP_EVERY_S - 1
    lab.jobs()
    assert not Path(stale).exists() and Path(used).exists()
    # read-only: no upload at all
    board = Lab(str(tmp_path / "board.duckdb"), policy=Policy.for_mode("leaderboard"))
    try:
        with pytest.raises(PermissionDenied, match="read-only"):
            board.save_upload(keyword_csv, user="ann")
    finally:
        board.close()
