"""ftlab on a Hugging Face Space: the dashboard over the seeded results database.

FTLAB_MODE picks leaderboard (the default here) / demo / zerogpu (README.md); the Space sets GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT, and SPACE_ID, which turns on Hugging Face sign-in for launching. With
persistent storage, set FTLAB_DB=/data/ftlab.duckdb: the seeded database is copied there once.
"""

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("FTLAB_MODE", "leaderboard")  # a Space trains only when its owner says so
HERE = Path(__file__).resolve().parent
SEED_DB = HERE / "ftlab.duckdb"

if os.environ.get("FTLAB_MODE", "").strip().lower() == "zerogpu":
    # ZeroGPU wants `spaces` imported, and its @spaces.GPU function defined, before torch touches CUDA.
    import ftlab.queue.zerogpu  # noqa: F401

from ftlab.ui import serve  # noqa: E402


def database() -> str:
    """FTLAB_DB (e.g. on persistent storage), seeded from this folder's database the first time."""
    target = Path(os.environ.get("FTLAB_DB") or SEED_DB)
    if target != SEED_DB and not target.exists() and SEED_DB.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SEED_DB, target)
        seed_artifacts = HERE / f"{SEED_DB.stem}-artifacts"
        if seed_artifacts.is_dir():
            shutil.copytree(seed_artifacts, target.with_name(f"{target.stem}-artifacts"), dirs_exist_ok=True)
    return str(target)


def main() -> int:
    """The dashboard over database(): serve.main checks the mode, the login and the address as
    `python app.py` in ftlab's repository does, then builds it with build_app and launches it.
    Flags (`python app.py --help`) still apply, e.g. --port."""
    return serve.main(["--db", database(), *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
