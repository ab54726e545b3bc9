"""Serving options: flags and environment, the login options, and the refusal to serve a public
address without a login."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftlab.errors import ConfigError
from ftlab.ui import serve

ROOT = Path(__file__).parents[2]


def test_flags_and_environment(monkeypatch):
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "FTLAB_DB"):
        monkeypatch.delenv(name, raising=False)
    args = serve.parse_args([])
    assert (args.host, args.port, args.db, args.share, args.mode) == ("127.0.0.1", 7860, "ftlab.duckdb", False, None)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8080")
    monkeypatch.setenv("FTLAB_DB", "/data/runs.duckdb")
    args = serve.parse_args(["--share", "--mode", "demo"])
    assert (args.host, args.port, args.db, args.share, args.mode) == ("0.0.0.0", 8080, "/data/runs.duckdb", True,
                                                                       "demo")
    assert serve.parse_args(["--port", "9000", "--db", "x.duckdb"]).db == "x.duckdb"
    with pytest.raises(SystemExit):
        serve.parse_args(["--mode", "party"])


def test_auth_pairs_and_tokens():
    assert serve.parse_auth(None) is None and serve.parse_auth([""]) is None
    assert serve.parse_auth(["ann:pw1", "bob:pw2"]) == [("ann", "pw1"), ("bob", "pw2")]
    assert serve.parse_auth(["ann:pw1,bob:pw2"]) == [("ann", "pw1"), ("bob", "pw2")]
    check = serve.parse_auth(["s3cret-token", "ann:pw1"])
    assert check("anyone", "s3cret-token") and check("ann", "pw1")
    assert not check("anyone", "wrong") and not check("bob", "pw1")
    with pytest.raises(ConfigError):
        serve.parse_auth([":nopassuser"])


@pytest.mark.parametrize("host, auth, flag, space, refused", [
    ("127.0.0.1", None, False, False, False),
    ("localhost", None, False, False, False),
    ("0.0.0.0", None, False, False, True),
    ("192.168.1.5", None, False, False, True),
    ("0.0.0.0", [("a", "b")], False, False, False),
    ("0.0.0.0", None, True, False, False),
    ("0.0.0.0", None, False, True, False),  # a Space: its sign-in gates launching
])
def test_public_address_needs_a_login_or_a_flag(host, auth, flag, space, refused):
    assert (serve.exposure_problem(host, auth, flag, space) is not None) == refused


@pytest.mark.parametrize("auth, flag, refused", [(None, False, True), ([("a", "b")], False, False),
                                                 (None, True, False)])
def test_a_share_link_needs_a_login_or_a_flag_even_on_loopback(auth, flag, refused):
    problem = serve.exposure_problem("127.0.0.1", auth, flag, False, share=True)
    assert (problem is not None) == refused
    if refused:
        assert problem.startswith("refusing to open a public --share link without a login") and "--auth" in problem


def test_main_refuses_share_and_an_impossible_sign_in_in_one_line(tmp_path, monkeypatch, capsys):
    from ftlab.policy import Policy

    for name in ("SPACE_ID", "FTLAB_AUTH", "FTLAB_MODE", "FTLAB_REQUIRE_LOGIN", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no saved login either
    db = tmp_path / "x.duckdb"
    assert serve.main(["--share", "--db", str(db)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: refusing to open a public --share link")
    monkeypatch.setenv("FTLAB_REQUIRE_LOGIN", "1")
    assert serve.main(["--mode", "demo", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: sign-in with Hugging Face off a Space needs this machine logged in") and "\n" not in err
    assert not db.exists()  # refused before anything was opened
    demo = Policy.for_mode("demo", require_login=True)
    assert serve.signin_problem(demo, on_space=True, token=None) is None  # the Space signs visitors in
    assert serve.signin_problem(demo, on_space=False, token="hf_x") is None
    assert serve.signin_problem(Policy.for_mode("demo"), on_space=False, token="") is None  # no sign-in asked


def test_app_py_refuses_a_public_address_without_auth(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SPACE_ID", "FTLAB_AUTH", "FTLAB_MODE")}
    out = subprocess.run([sys.executable, str(ROOT / "app.py"), "--host", "0.0.0.0", "--db", str(tmp_path / "x.duckdb")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to serve on 0.0.0.0"), out.stderr
    assert "--auth" in lines[0] and "--insecure-public" in lines[0]
    assert not (tmp_path / "x.duckdb").exists()  # refused before anything was opened


def test_warm_validation_imports_what_the_first_launch_needs():
    # In a fresh process: nothing of peft before, peft's default-target tables after the thread ends,
    # so validating a LoRA config on the first click imports nothing more.
    code = ("import sys\n"
            "from ftlab.ui.serve import warm_validation\n"
            "assert 'peft' not in sys.modules\n"
            "warm_validation().join(300)\n"
            "assert 'peft.utils.constants' in sys.modules\n"
            "before = set(sys.modules)\n"
            "from ftlab.config import RunConfig\n"
            "RunConfig(model='minilm', method='lora')\n"
            "print(sorted(m for m in set(sys.modules) - before if m.startswith(('peft', 'torch', 'transformers'))))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_zerogpu_mode_serves_its_backend_caps_and_header(tmp_path):
    """What a ZeroGPU Space's environment makes of the dashboard (the Space walk covers the demo mode
    in a browser): its policy's caps on the Launch tab, the mode in the header, jobs on the zerogpu
    backend (jobs run in-process there)."""
    from ftlab.policy import Policy
    from ftlab.queue.zerogpu import ZeroGPUBackend
    from ftlab.ui.app import _header

    policy = Policy.from_env({"FTLAB_MODE": "zerogpu", "SPACE_ID": "alice/ftlab", "FTLAB_REQUIRE_LOGIN": "0"})
    text = policy.describe()
    assert "ZeroGPU Space" in text and "up to 20,000 training" in text
    lab = serve.open_lab(str(tmp_path / "z.duckdb"), policy)
    try:
        assert isinstance(lab.scheduler.backend, ZeroGPUBackend)
        assert "zerogpu mode" in _header(lab)
    finally:
        lab.close()
