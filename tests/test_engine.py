"""The engine end to end: real model and data, stopping rules, failures, saved artifacts."""

import json

import pytest

from ftlab.config import RunConfig
from ftlab.errors import DataError
from ftlab.train import load_predictor, train

TINY = dict(model="tiny", max_train=96, max_eval=32, batch_size=16, seed=0)


def kinds(events):
    return [e["event"] for e in events]


def test_events_are_json_lines_in_order(keyword_csv):
    events = []
    summary = train(RunConfig(dataset=keyword_csv, method="lora", max_steps=12, eval_every=4, **TINY), events.append)
    for e in events:
        json.dumps(e, allow_nan=False)
    k = kinds(events)
    assert k[0] == "started" and k[-1] == "finished"
    assert k.count("step") == 12
    evals = [e for e in events if e["event"] == "eval"]
    assert [(e["split"], e["step"]) for e in evals] == [("validation", 4), ("validation", 8), ("validation", 12), ("test", 12)]
    step = next(e for e in events if e["event"] == "step")
    assert step["samples_per_s"] > 0 and step["tokens_per_s"] > step["samples_per_s"] and 0 < step["lr"] <= 5e-3  # lora default peak
    for key in ("accuracy", "macro_f1", "trainable_params", "total_params", "head_params", "train_samples_per_s",
                "train_tokens_per_s", "eval_samples_per_s", "peak_memory_mb", "wall_s", "time_to_first_step_s"):
        assert summary[key] is not None and summary[key] > 0, key
    assert summary["stopped_reason"] == "max_steps" and summary["steps"] == 12


def test_ner_reports_entity_scores(names_conll):
    events = []
    summary = train(RunConfig(dataset=names_conll, method="full", max_steps=30, **TINY), events.append)
    final = events[-1]
    assert {"entity_f1", "entity_precision", "entity_recall", "token_accuracy"} <= set(summary)
    assert {c["label"] for c in final["per_class"]} == {"PER", "LOC"}
    assert "PER" in final["report"]


def test_early_stopping_and_time_budget(keyword_csv):
    events = []
    summary = train(RunConfig(dataset=keyword_csv, method="head", lr=1e-6, epochs=50, eval_every=2,
                              early_stopping=2, **TINY), events.append)
    assert summary["stopped_reason"] == "early_stopping"
    assert summary["steps"] < 50 * 6
    summary = train(RunConfig(dataset=keyword_csv, method="lora", epochs=1000, time_budget_s=2, **TINY))
    assert summary["stopped_reason"] == "time_budget" and summary["wall_s"] < 60


def test_grad_accumulation_counts_optimizer_steps(keyword_csv):
    events = []
    train(RunConfig(dataset=keyword_csv, method="lora", epochs=1, grad_accum=2, **TINY), events.append)
    assert events[0]["total_steps"] == 3  # 96 examples / (16 x 2)
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3]


def test_grad_accumulation_ends_each_epoch_on_a_step(keyword_csv, monkeypatch):
    """96 examples in batches of 16 are 6 micro-batches an epoch; with 4 to a step the epoch's last
    2 make a step of their own, so each epoch is 2 steps and its evaluation falls on its end."""
    from ftlab.train import engine

    seen, add = [], engine.ThroughputWindow.add
    monkeypatch.setattr(engine.ThroughputWindow, "add", lambda self, loss, n, t: (seen.append(n), add(self, loss, n, t)))
    events = []
    train(RunConfig(dataset=keyword_csv, method="lora", epochs=2, grad_accum=4, **TINY), events.append)
    assert events[0]["total_steps"] == 4
    steps = [e for e in events if e["event"] == "step"]
    assert [(e["step"], e["epoch"]) for e in steps] == [(1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0)]
    assert [e["step"] for e in events if e["event"] == "eval" and e["split"] == "validation"] == [2, 4]
    assert sum(seen) == 2 * 96  # two epochs of examples, not a step's worth into a third


def test_partial_accumulation_step_has_the_mean_gradient(keyword_csv, monkeypatch):
    """A step over 2 micro-batches where 4 were planned is scaled to their mean gradient: the
    same update as grad_accum=2 over the same batches."""
    import torch

    from ftlab.train import engine

    norms = {}
    for accum in (2, 4):
        grads = []
        clip = torch.nn.utils.clip_grad_norm_
        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_",
                            lambda params, max_norm, **kw: (grads.append(float(torch.cat([p.grad.flatten() for p in params]).norm())),
                                                            clip(params, max_norm, **kw))[1])
        # 32 examples = 2 micro-batches: with grad_accum 4 the epoch's end forces a step over 2
        train(RunConfig(dataset=keyword_csv, method="full", epochs=1, grad_accum=accum, model="tiny", max_train=32,
                        max_eval=16, batch_size=16, seed=0, max_grad_norm=1e9))
        norms[accum] = grads[0]
        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    assert norms[4] == pytest.approx(norms[2], rel=1e-5)


def test_fp16_trains_with_a_grad_scaler(keyword_csv, monkeypatch):
    import torch

    from ftlab.train import engine

    made = []
    real = torch.amp.GradScaler
    monkeypatch.setattr(engine.torch.amp, "GradScaler", lambda *a, **kw: made.append(kw) or real(*a, **kw))
    summary = train(RunConfig(dataset=keyword_csv, method="lora", max_steps=6, precision="fp16", device="cpu", **TINY))
    assert made == [{"enabled": True}] and summary["steps"] == 6
    made.clear()
    train(RunConfig(dataset=keyword_csv, method="lora", max_steps=2, precision="fp32", device="cpu", **TINY))
    assert made == [{"enabled": False}]


def test_peak_memory_is_per_run_within_one_process(keyword_csv):
    """A grid trains several runs in one process: a later run must not report an earlier peak."""
    import sys

    import torch

    if not sys.platform.startswith("linux"):
        pytest.skip("per-run CPU peaks need /proc/self/clear_refs")
    cfg = RunConfig(dataset=keyword_csv, method="lora", max_steps=2, device="cpu", **TINY)
    first = train(cfg)
    block = torch.ones(600 * 2**20 // 4)  # a 600 MB peak between the two runs, then freed
    del block
    second = train(cfg)
    assert second["memory_kind"] == "cpu_peak_rss"
    assert second["peak_memory_mb"] < first["peak_memory_mb"] + 300


def test_same_seed_same_result(keyword_csv):
    cfg = RunConfig(dataset=keyword_csv, method="lora", max_steps=6, **TINY)
    a, b = [], []
    train(cfg, a.append)
    train(cfg, b.append)
    assert [e["loss"] for e in a if e["event"] == "step"] == [e["loss"] for e in b if e["event"] == "step"]


def test_failure_emits_failed_with_reason_and_reached_metrics(tmp_path, keyword_csv):
    with pytest.raises(DataError, match="not found"):  # caught when the config is built
        RunConfig(dataset=str(tmp_path / "gone.csv"), **TINY)
    vanishing = tmp_path / "vanishing.csv"
    vanishing.write_text(open(keyword_csv).read())
    cfg = RunConfig(dataset=str(vanishing), **TINY)
    vanishing.unlink()  # the file disappears between config and start
    events = []
    with pytest.raises(DataError):
        train(cfg, events.append)
    assert kinds(events) == ["failed"] and "not found" in events[-1]["error"]

    def stop_after_params(event):  # fail mid-way: after setup, during training
        events.append(event)
        if event["event"] == "step":
            raise RuntimeError("disk full")

    events.clear()
    with pytest.raises(RuntimeError):
        train(RunConfig(dataset=keyword_csv, method="lora", max_steps=5, **TINY), stop_after_params)
    failed = events[-1]
    assert failed["event"] == "failed" and failed["error"] == "RuntimeError: disk full"
    assert failed["summary"]["trainable_params"] > 0


def test_saved_run_predicts(tmp_path, keyword_csv, names_conll):
    cfg = RunConfig(dataset=keyword_csv, method="lora", max_steps=30, **TINY)
    summary = train(cfg, artifact_dir=str(tmp_path / "cls"))
    predictor = load_predictor(summary["artifact_dir"])
    out = predictor.predict(["the movie was wonderful", "terrible plot"])
    assert len(out) == 2 and set(out[0]["probs"]) == {"bad", "good", "meh"}
    assert abs(sum(out[0]["probs"].values()) - 1) < 1e-3

    summary = train(RunConfig(dataset=names_conll, method="lora", max_steps=40, **TINY), artifact_dir=str(tmp_path / "ner"))
    tagged = load_predictor(summary["artifact_dir"]).predict(["the alice smith movie in new york"])[0]
    assert tagged["tokens"] == "the alice smith movie in new york".split()
    assert len(tagged["tags"]) == 7


def test_compiled_run_traces_once_per_mode_and_matches_eager(tmp_path, monkeypatch):
    import torch._dynamo.utils as dynamo_utils

    from ftlab.train import engine

    # aot_eager: dynamo's tracing and AOT autograd graphs, run without inductor's code generation
    # (minutes of C++ compiling on 2 cores); the same ATen ops as eager, so results must be identical.
    monkeypatch.setenv("FTLAB_COMPILE_BACKEND", "aot_eager")
    widths = []
    real_collate = engine.collate

    def collate(*args, **kwargs):
        batch = real_collate(*args, **kwargs)
        widths.append(tuple(batch["input_ids"].shape))
        return batch

    monkeypatch.setattr(engine, "collate", collate)
    cfg = RunConfig(model="tiny", dataset="tweets-sentiment", method="lora", max_train=256, max_eval=64,
                    batch_size=16, max_steps=8, eval_every=4, seed=0)
    eager, comp = [], []
    train(cfg, eager.append)
    widths.clear()
    dynamo_utils.counters.clear()
    summary = train(cfg.replace(compile=True), comp.append, artifact_dir=str(tmp_path / "run"))

    def curve(events):
        return [(e["event"], e.get("split"), e.get("loss"), (e.get("metrics") or {}).get("accuracy"))
                for e in events if e["event"] in ("step", "eval")]

    assert curve(comp) == curve(eager)
    assert len(set(widths)) >= 4  # batches of many shapes (padded lengths, sizes) ...
    assert dynamo_utils.counters["stats"]["unique_graphs"] <= 4  # ... traced once for training, once for eval
    out = load_predictor(summary["artifact_dir"]).predict(["good phone", "awful service"])
    assert len(out) == 2 and abs(sum(out[0]["probs"].values()) - 1) < 1e-3


class FakeClock:
    """perf_counter for the throughput window; a test moves it on by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    from ftlab.train import throughput

    fake = FakeClock()
    monkeypatch.setattr(throughput, "perf_counter", fake)
    return fake


def test_throughput_window_clock_includes_its_host_sync(clock, monkeypatch):
    """On a GPU the loss read at close is where the host waits for the window's queued steps:
    the window's time must hold that wait, or samples/s counts queuing, not computing."""
    import torch

    from ftlab.train import throughput

    def slow_sync(value):  # a device still busy with the window's work for 0.2 s
        clock.now += 0.2
        return float(value)

    monkeypatch.setattr(throughput, "to_host", slow_sync)
    window = throughput.ThroughputWindow(torch.device("cpu"))
    window.start()
    window.add(torch.tensor(1.5), samples=10, tokens=300)
    clock.now += 0.05  # the host's own time queuing the step
    report = window.close()
    assert report.loss == 1.5
    assert report.samples_per_s == pytest.approx(10 / 0.25) and report.samples_per_s <= 10 / 0.2
    assert report.tokens_per_s == pytest.approx(300 / 0.25)
    assert window.train_s == pytest.approx(0.25)


def test_throughput_window_totals_add_up_and_leave_out_evaluations(clock):
    import torch

    from ftlab.train.throughput import ThroughputWindow

    window = ThroughputWindow(torch.device("cpu"))
    reports = []
    for samples, tokens, seconds in ((16, 400, 0.5), (8, 100, 0.25), (4, 80, 1.0)):
        for loss in (1.0, 3.0):  # two micro-batches a window
            window.start()
            window.add(torch.tensor(loss), samples, tokens)
            clock.now += seconds / 2
        reports.append(window.close())
        clock.now += 7.0  # sending the curve point: between windows, not training
    assert [r.loss for r in reports] == [2.0, 2.0, 2.0]
    assert [r.samples_per_s for r in reports] == pytest.approx([64, 64, 8])
    assert (window.samples_seen, window.tokens_seen) == (56, 1160)
    assert window.train_s == pytest.approx(1.75)

    window.start()  # a window that straddles a validation pass
    window.add(torch.tensor(1.0), 10, 100)
    clock.now += 0.5
    window.pause()
    clock.now += 30.0  # the validation pass
    window.start()
    window.add(torch.tensor(1.0), 10, 100)
    clock.now += 0.5
    assert window.close().samples_per_s == pytest.approx(20)
    assert (window.samples_seen, window.train_s) == (76, pytest.approx(2.75))


def test_a_run_logs_its_steps_validations_and_test_pass_as_they_happen():
    events = []
    cfg = RunConfig(model="tiny", dataset="tweets-sentiment", method="lora", max_train=320, max_eval=96, batch_size=16,
                    max_steps=20, eval_every=10, eval_batch_size=16, seed=0)
    train(cfg, events.append)
    logs = [e["message"] for e in events if e["event"] == "log"]
    steps = [m for m in logs if m.startswith("step ")]
    assert steps[-1].startswith("step 20 / 20: loss") and len(steps) == 20  # LOG_LINES a run, at most
    assert [m.split(":")[0] for m in logs if m.startswith("validation")] == ["validation at step 10",
                                                                               "validation at step 20"]
    assert "evaluating test: 96 examples" in logs
    progress = [e for e in events if e["event"] == "progress"]
    assert {e["split"] for e in progress} == {"validation", "test"}
    test = [e for e in progress if e["split"] == "test"]
    assert test[-1]["done"] == test[-1]["total"] == 96  # the pass's end is always sent
    kinds = [e["event"] for e in events]
    assert kinds.index("progress") < kinds.index("eval")  # sent while the pass runs, before its scores
