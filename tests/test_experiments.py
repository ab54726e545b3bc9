"""Every experiment file loads and validates, and says on line 1 the command that runs it."""

from pathlib import Path

import pytest

from ftlab.errors import ConfigError
from ftlab.experiments import load_configs, load_experiment

FILES = sorted((Path(__file__).parents[1] / "experiments").glob("*.yaml"))


def test_there_are_experiments():
    assert any(f.name == "quick-compare.yaml" for f in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_experiment_loads(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# python -m ftlab ") and path.name in first
    exp = load_experiment(path)
    configs = exp.configs()
    n = max(1, len(exp.settings))
    for values in exp.grid.values():
        n *= len(values)
    assert len(configs) == n and len({c.hash for c in configs}) == n


def test_grid_typos_are_errors(tmp_path):
    (tmp_path / "x.yaml").write_text("name: x\nbase: {model: tiny}\ngrid: {methd: [lora]}\n")
    with pytest.raises(ConfigError, match="methd"):
        load_configs(tmp_path / "x.yaml")
    (tmp_path / "y.yaml").write_text("name: y\ngrid: {method: [lora]}\nmethod_options: {lora: {rank: 4}}\n")
    with pytest.raises(ConfigError, match="rank"):
        load_configs(tmp_path / "y.yaml")


def test_settings_run_as_listed_with_every_grid_combination(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "name: s\nbase: {model: tiny, dataset: tweets-sentiment}\ngrid: {seed: [0, 1]}\n"
        "settings: [{method: lora}, {method: lora, quantize: nf4}, {method: full}]\n"
        "method_options: {lora: {r: 4}}\n")
    configs = load_configs(tmp_path / "s.yaml")
    got = [(c.method, c.quantize, c.seed) for c in configs]
    assert got == [("lora", "none", 0), ("lora", "none", 1), ("lora", "nf4", 0), ("lora", "nf4", 1),
                   ("full", "none", 0), ("full", "none", 1)]
    assert all(c.method_options.r == 4 for c in configs if c.method == "lora")
    # the product of the same values would include full fine-tuning on a 4-bit base, which is refused
    (tmp_path / "g.yaml").write_text(
        "name: g\nbase: {model: tiny}\ngrid: {method: [lora, full], quantize: [none, nf4]}\n")
    with pytest.raises(ConfigError, match=r"method=full, quantize=nf4"):
        load_configs(tmp_path / "g.yaml")


def test_settings_typos_and_clashes_are_errors(tmp_path):
    (tmp_path / "x.yaml").write_text("name: x\nsettings: [{method: lora, quantise: nf4}]\n")
    with pytest.raises(ConfigError, match="quantise"):
        load_configs(tmp_path / "x.yaml")
    (tmp_path / "y.yaml").write_text("name: y\ngrid: {seed: [0]}\nsettings: [{seed: 1}]\n")
    with pytest.raises(ConfigError, match="seed is both in the grid and in settings"):
        load_configs(tmp_path / "y.yaml")
