"""ftlab.train.probe and Lab.estimate(probe=True): a measured first guess of a run's speed."""

from ftlab.config import RunConfig
from ftlab.service import Lab


def test_estimate_probes_real_steps_once_per_setting(tmp_path, keyword_csv, monkeypatch):
    from ftlab.train import probe

    calls = []
    real = probe.probe_rates
    monkeypatch.setattr(probe, "probe_rates", lambda *a, **k: calls.append(a[2].batch_size) or real(*a, **k))
    with Lab(str(tmp_path / "p.duckdb")) as lab:
        cfg = RunConfig(model="tiny", dataset=keyword_csv, method="lora", batch_size=8, max_train=64)
        plain = lab.estimate(cfg)
        assert "train_samples_per_s" not in plain and calls == []  # counting parameters trains nothing
        first = lab.estimate(cfg, probe=True)
        assert first["train_samples_per_s"] > 0 and first["eval_samples_per_s"] > 0
        assert first["trainable_params"] == plain["trainable_params"]
        assert lab.estimate(cfg, probe=True) == first and calls == [8]  # cached
        lab.estimate(cfg.replace(batch_size=16), probe=True)  # another batch size is another speed
        assert calls == [8, 16]


def test_probe_evaluation_is_faster_than_training(keyword_csv):
    """A forward pass costs about a third of a training step: a probe that timed something else
    (or nothing) would not show it."""
    from ftlab import data, models
    from ftlab.train.probe import probe_rates

    cfg = RunConfig(model="tiny", dataset=keyword_csv, method="full", batch_size=32)
    loaded = data.load_dataset(keyword_csv)
    tokenizer = models.load_tokenizer("tiny")
    model = models.load_model("tiny", "classification", loaded.label_names, tokenizer)
    rates = probe_rates(model, tokenizer, cfg, loaded.train, steps=5)
    assert rates["eval_samples_per_s"] > rates["train_samples_per_s"] > 0
