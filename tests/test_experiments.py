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
    n = 1
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
