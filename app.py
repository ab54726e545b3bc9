"""ftlab's dashboard.

    python app.py [--host 127.0.0.1] [--port 7860] [--db ftlab.duckdb] [--share]

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT set the defaults of --host / --port (a Hugging Face
Space sets them). The job scheduler runs in a thread of this process; jobs run as worker
subprocesses, one per device slot.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # gradio phones home otherwise


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python app.py", description="Start the ftlab dashboard.")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="Address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 for every "
                        "interface).")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                   help="Port (default: $GRADIO_SERVER_PORT or 7860).")
    p.add_argument("--db", default="ftlab.duckdb",
                   help="DuckDB file of runs and jobs; trained weights go beside it in <name>-artifacts/, "
                        "uploaded datasets in <name>-uploads/ (default: ftlab.duckdb).")
    p.add_argument("--share", action="store_true", help="Also open a public gradio.live link (needs internet).")
    return p.parse_args(argv)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    from ftlab.errors import FtlabError
    from ftlab.service import Lab
    from ftlab.ui.app import build_app
    from ftlab.ui.logic import MAX_UPLOAD_BYTES

    try:
        lab = Lab(args.db, start_scheduler=True)
    except FtlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # SIGTERM (a container or Space stopping) closes like Ctrl-C: running jobs are stopped and
    # recorded as interrupted, and re-queued when the dashboard starts again.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        build_app(lab).launch(server_name=args.host, server_port=args.port, share=args.share,
                              max_file_size=MAX_UPLOAD_BYTES)
    finally:
        lab.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
