"""The repository's promises: the README's two commands, CI running exactly the test one."""

from pathlib import Path

ROOT = Path(__file__).parents[1]


def readme_commands():
    return [line.strip()[2:] for line in (ROOT / "README.md").read_text().splitlines() if line.strip().startswith("$ ")]


def test_ci_runs_the_readme_test_command():
    test_cmd = [c for c in readme_commands() if "pytest" in c]
    assert len(test_cmd) == 1
    ci_lines = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert test_cmd[0] in ci_lines


def test_torch_is_pinned():
    reqs = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in reqs
