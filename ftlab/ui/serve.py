"""Serving the dashboard: command-line options, who may reach it, and the launch itself.

    python app.py [--host 127.0.0.1] [--port 7860] [--db ftlab.duckdb] [--mode local]
                  [--auth USER:PASSWORD | --auth TOKEN] [--insecure-public] [--share]

The dashboard can launch jobs that run code on this machine, so it listens on loopback by
default. Binding to any other address needs `--auth` (gradio's login page) or, knowingly,
`--insecure-public`; on a Hugging Face Space (SPACE_ID set) the Space's own sign-in gates
launching instead (see ftlab.policy).
"""

from __future__ import annotations

import argparse
import hmac
import importlib
import os
import signal
import sys
import threading
from typing import Callable, Optional, Union

from ftlab.errors import ConfigError, FtlabError
from ftlab.policy import MODES, Policy

LOOPBACK = ("127.0.0.1", "localhost", "::1")
Auth = Union[None, list[tuple[str, str]], Callable[[str, str], bool]]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python app.py", description="Start the ftlab dashboard.")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="Address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1). Any address other than "
                        "loopback needs --auth or --insecure-public.")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                   help="Port (default: $GRADIO_SERVER_PORT or 7860).")
    p.add_argument("--db", default=os.environ.get("FTLAB_DB", "ftlab.duckdb"),
                   help="DuckDB file of runs and jobs; trained weights go beside it in <name>-artifacts/, "
                        "uploaded datasets in <name>-uploads/ (default: $FTLAB_DB or ftlab.duckdb).")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="local (everything open), demo (capped jobs), zerogpu (jobs in a ZeroGPU allocation) or "
                        "leaderboard (read-only). Default: $FTLAB_MODE or local.")
    p.add_argument("--auth", action="append", metavar="USER:PASSWORD|TOKEN", default=None,
                   help="Require a login: USER:PASSWORD (repeat for several users) or a single TOKEN that any user "
                        "name accepts as password. Default: $FTLAB_AUTH (comma-separated).")
    p.add_argument("--insecure-public", action="store_true",
                   help="Serve on a non-loopback address without --auth: anyone who reaches it can run jobs here.")
    p.add_argument("--share", action="store_true", help="Also open a public gradio.live link (needs internet, and --auth or --insecure-public like any address beyond loopback).")
    return p.parse_args(argv)


def parse_auth(entries: Optional[list[str]]) -> Auth:
    """--auth values -> what gradio's launch(auth=...) takes; None when there are none."""
    items = [e.strip() for entry in entries or [] for e in entry.split(",") if e.strip()]
    if not items:
        return None
    pairs = [tuple(i.split(":", 1)) for i in items if ":" in i]
    tokens = [i for i in items if ":" not in i]
    if any(not u or not pw for u, pw in pairs):
        raise ConfigError("--auth takes USER:PASSWORD with both parts, or a TOKEN")
    if not tokens:
        return pairs

    def check(username: str, password: str) -> bool:
        if any(hmac.compare_digest(password, t) for t in tokens):
            return True
        return any(u == username and hmac.compare_digest(password, pw) for u, pw in pairs)

    return check


def exposure_problem(host: str, auth: Auth, insecure_public: bool, on_space: bool, share: bool = False) -> Optional[str]:
    """Why serving on `host` (and, with `share`, on a public gradio.live link) is refused; None when
    it is fine. Both reach beyond this machine, so both need a login or --insecure-public."""
    if auth is not None or on_space or insecure_public:
        return None
    if share:
        return ("refusing to open a public --share link without a login: anyone with the link could run jobs on "
                "this machine. Add --auth USER:PASSWORD (or --auth TOKEN), or --insecure-public if that is what "
                "you want")
    if host in LOOPBACK or host.startswith("127."):
        return None
    return (f"refusing to serve on {host} without a login: anyone who reaches it could run jobs on this machine. "
            "Add --auth USER:PASSWORD (or --auth TOKEN), or --insecure-public if that is what you want")


def signin_problem(policy: Policy, on_space: bool, token: Optional[str] = None) -> Optional[str]:
    """Why a Hugging Face sign-in cannot work here (None when it can). On a Space the Space signs
    visitors in; elsewhere gradio signs the browser in as the account this machine is logged in
    with, which needs a token (`token`, else huggingface_hub's: HF_TOKEN or a saved login)."""
    if not policy.require_login or on_space:
        return None
    if token is None:
        from huggingface_hub import get_token

        token = get_token()
    if token:
        return None
    return ("sign-in with Hugging Face off a Space needs this machine logged in to the Hub (hf auth login, or set "
            "HF_TOKEN); or set FTLAB_REQUIRE_LOGIN=0 and give the dashboard a login with --auth USER:PASSWORD")


def open_lab(db: str, policy: Policy):
    """The Lab a dashboard serves: it runs the queue unless the mode is read-only; zerogpu jobs
    run in-process inside @spaces.GPU; local jobs start in a spare worker that has its imports done."""
    from ftlab.service import Lab

    backend = "zerogpu" if policy.mode == "zerogpu" else "local"
    return Lab(db, start_scheduler=policy.can_launch, policy=policy, backend=backend,
               spare_workers=policy.can_launch and backend == "local")


def warm_validation() -> threading.Thread:
    """Import, in the background, what validating a launch imports (peft's default-target tables,
    which pull in torch and transformers: ~10 s in a cold process), so the first "Queue" click
    answers at once instead of after it."""

    def work() -> None:
        try:
            importlib.import_module("peft.utils.constants")
        except Exception:  # noqa: BLE001 - the click imports it again and reports the failure
            pass

    thread = threading.Thread(target=work, daemon=True, name="ftlab-warm-validation")
    thread.start()
    return thread


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def launch(demo, lab, *, host: str, port: int, auth: Auth = None, share: bool = False) -> None:
    """Serve until interrupted. SIGTERM (a container or Space stopping) closes like Ctrl-C: running
    jobs are stopped and recorded as interrupted, and re-queued when the dashboard starts again."""
    from ftlab.uploads import MAX_BYTES as MAX_UPLOAD_BYTES

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.launch(server_name=host, server_port=port, share=share, auth=auth, max_file_size=MAX_UPLOAD_BYTES)
    finally:
        lab.close()


def main(argv=None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # gradio phones home otherwise
    args = parse_args(argv)
    try:
        policy = Policy.from_env() if args.mode is None else Policy.from_env({**os.environ, "FTLAB_MODE": args.mode})
        auth = parse_auth(args.auth if args.auth is not None else [os.environ.get("FTLAB_AUTH", "")])
        on_space = bool(os.environ.get("SPACE_ID"))
        problem = (exposure_problem(args.host, auth, args.insecure_public, on_space=on_space, share=args.share)
                   or signin_problem(policy, on_space))
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        if args.insecure_public and auth is None and (args.share or args.host not in LOOPBACK):
            where = "a public --share link" if args.share else args.host
            print(f"warning: serving on {where} with no login (--insecure-public): anyone who reaches it can "
                  "run jobs on this machine", file=sys.stderr)
        lab = open_lab(args.db, policy)
        if policy.can_launch:
            warm_validation()
    except FtlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from ftlab.ui.app import build_app

    launch(build_app(lab), lab, host=args.host, port=args.port, auth=auth, share=args.share)
    return 0
