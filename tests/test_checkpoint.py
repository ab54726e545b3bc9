"""Checkpoints: a run stopped part-way and started again resumes where it was and ends exactly
where it would have ended uninterrupted (same seed, CPU); a damaged checkpoint is skipped."""

import pytest
import torch

from ftlab.config import RunConfig
from ftlab.train import checkpoint, train

TINY = dict(model="tiny", max_train=96, max_eval=32, batch_size=16, max_steps=14, eval_every=4,
            checkpoint_every="4")


@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_resumed_run_ends_with_the_same_test_metrics(keyword_csv, tmp_path, method):
    cfg = RunConfig(dataset=keyword_csv, method=method, **TINY)
    straight = train(cfg, artifact_dir=str(tmp_path / "straight"))

    art = str(tmp_path / "stopped")
    steps = []

    def stop_after_6(event):
        if event["event"] == "step":
            steps.append(event["step"])

    stopped = train(cfg, stop_after_6, artifact_dir=art, should_stop=lambda: bool(steps) and steps[-1] >= 6)
    assert stopped["stopped_reason"] == "canceled" and stopped["steps"] == 6
    assert checkpoint.latest(art)["step"] == 4  # the last one before the stop

    events = []
    resumed = train(cfg, events.append, artifact_dir=art)
    logs = [e["message"] for e in events if e["event"] == "log"]
    assert "resumed from the checkpoint at step 4 of 14" in logs
    assert [e["step"] for e in events if e["event"] == "step"][0] == 5  # no step is trained twice
    for key in ("accuracy", "macro_f1", "eval_loss", "steps"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-6, abs=1e-7), key
    assert checkpoint.latest(art) is None  # a finished run keeps its weights, not its checkpoints


def test_an_out_of_memory_retry_resumes_with_half_the_batch(keyword_csv, tmp_path):
    """The queue retries an OOM with half the batch and twice the accumulation: the run goes on
    from the checkpoint's step, through the same number of samples."""
    cfg = RunConfig(dataset=keyword_csv, method="lora", **TINY)
    art, steps = str(tmp_path), []
    train(cfg, lambda e: e["event"] == "step" and steps.append(e["step"]), artifact_dir=art,
          should_stop=lambda: bool(steps) and steps[-1] >= 5)
    events = []
    smaller = cfg.replace(batch_size=8, grad_accum=2)
    done = train(smaller, events.append, artifact_dir=art)
    logs = [e["message"] for e in events if e["event"] == "log"]
    assert any(m.startswith("resumed from the checkpoint at step 4 of 14 (batch 16 then, 8 now") for m in logs)
    assert done["steps"] == 14 and done["stopped_reason"] == "max_steps"


def test_a_damaged_checkpoint_is_skipped_for_the_one_before(tmp_path):
    art = str(tmp_path)
    for step in (4, 8, 12):
        checkpoint.save(art, step, {"trainable": {"w": torch.full((2,), float(step))}})
    assert sorted(p.name for p in checkpoint.folder(art).iterdir()) == ["step-12", "step-8"]  # two kept
    (checkpoint.folder(art) / "step-12" / checkpoint.STATE).write_bytes(b"half a file")
    state = checkpoint.latest(art)
    assert state["step"] == 8 and state["trainable"]["w"].tolist() == [8.0, 8.0]
    assert checkpoint.latest(str(tmp_path / "nothing")) is None


def test_checkpoint_every_reads_steps_and_times():
    assert RunConfig(checkpoint_every="500").checkpoint_policy == (500, 0.0)
    assert RunConfig(checkpoint_every="10m").checkpoint_policy == (0, 600.0)
    assert RunConfig(checkpoint_every="0").checkpoint_policy == (0, 0.0)
    assert not checkpoint.due(14, 14, 2, 0.0, 0.0)  # never at the last step
    assert checkpoint.due(4, 14, 2, 0.0, 0.0) and checkpoint.due(3, 14, 0, 61.0, 60.0)
    with pytest.raises(Exception, match="checkpoint_every"):
        RunConfig(checkpoint_every="often")
