"""Build a Hugging Face Space folder: `python -m ftlab space build OUT_DIR`.

The folder holds spaces/ (README.md with the Space's YAML header, app.py, requirements.txt), a
copy of the ftlab package, and a results database seeded with the runs of experiment files,
with their trained weights, so the Space starts with no access to this repository and its
leaderboard and playground work from the first visit.

Seeding reuses a run already in `--from-db` (the newest succeeded run with the same config hash
and its weights on disk) and trains the others now, into the Space's database.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Optional

from ftlab.errors import FtlabError

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
TEMPLATE = REPO / "spaces"
DEFAULT_EXPERIMENTS = (REPO / "experiments" / "quick-compare.yaml",)
DB_NAME = "ftlab.duckdb"
# Binary files a Space repository must keep in Git LFS (the Hub refuses them as plain git blobs).
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
                        for pattern in ("*.duckdb", "*.safetensors", "*.bin", "*.parquet"))


def _ignore(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))]


def _reusable_runs(source) -> dict[str, dict]:
    """{config hash: the newest succeeded run of that config whose weights are still on disk}."""
    from ftlab.service import Lab

    found: dict[str, dict] = {}
    for run in sorted(source.runs_records(status="succeeded"), key=lambda r: -int(r["id"])):
        art = Lab.resolve_artifacts(source.path, run.get("artifact_dir"))
        if run.get("config_hash") not in found and art and Path(art).is_dir():
            found[run["config_hash"]] = {**run, "artifact_path": art}
    return found


def build(out_dir: str | Path, *, experiments: Optional[list[str]] = None, from_db: Optional[str] = None,
          force: bool = False, on_event: Optional[Callable[[str, dict], None]] = None,
          say: Callable[[str], None] = print) -> dict:
    """Write the Space folder; returns {"out", "reused", "trained", "failed"} (run counts).
    `on_event(label, event)` sees the engine's events of each run trained here (progress bars)."""
    from ftlab.experiments import file_experiment, load_configs
    from ftlab.service import train_now
    from ftlab.store import Store

    if not TEMPLATE.is_dir():
        raise FtlabError(f"{TEMPLATE} is missing: build a Space from a source checkout of ftlab")
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FtlabError(f"{out} exists and is not empty; pick a new folder or pass --force to replace it")
        if out == REPO or REPO in out.parents or out in REPO.parents:
            raise FtlabError(f"refusing to replace {out}: it holds this checkout")
        shutil.rmtree(out)
    files = [Path(f) for f in (experiments or DEFAULT_EXPERIMENTS)]
    launches = [(f, load_configs(str(f))) for f in files]  # every file is checked before any work
    configs = [c for _, cs in launches for c in cs]
    experiments = [exp for f, cs in launches for exp in [file_experiment(f, cs)] * len(cs)]  # one per file
    source, reusable = None, {}
    if from_db and Path(from_db).exists():
        source = Store(from_db)
        reusable = _reusable_runs(source)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for item in TEMPLATE.iterdir():
            if item.name == "__pycache__":
                continue
            (shutil.copytree(item, out / item.name, ignore=_ignore) if item.is_dir()
             else shutil.copy2(item, out / item.name))
        shutil.copytree(PACKAGE, out / "ftlab", ignore=_ignore)
        (out / ".gitattributes").write_text(GITATTRIBUTES)
        counts = {"out": str(out), "reused": 0, "trained": 0, "failed": 0}
        db_path = out / DB_NAME
        with Store(db_path) as store:
            for i, (config, experiment) in enumerate(zip(configs, experiments), 1):
                label = f"[{i}/{len(configs)}] {config.model}/{config.dataset}/{config.method}/seed{config.seed}"
                found = reusable.get(config.hash)
                if found is not None:
                    run_id = store.copy_run(source, found["id"], experiment=experiment)
                    rel = f"{db_path.stem}-artifacts/run-{run_id}"
                    shutil.copytree(found["artifact_path"], out / rel)
                    store.set_artifact_dir(run_id, rel)
                    counts["reused"] += 1
                    say(f"{label}: copied run {found['id']} from {from_db}")
                    continue
                say(f"{label}: training")
                run_id, _, error = train_now(config, store, db_path=str(db_path), experiment=experiment,
                                             on_event=(lambda e, lb=label: on_event(lb, e)) if on_event else None)
                if error:
                    counts["failed"] += 1
                    say(f"{label}: failed: {error}")
                    continue
                store.set_artifact_dir(run_id, f"{db_path.stem}-artifacts/run-{run_id}")  # relative: the folder moves
                counts["trained"] += 1
    finally:
        if source is not None:
            source.close()
    return counts
