"""Checkpoints a run resumes from: what the method trains, the optimizer, the LR schedule, every
random state and the position in the data order, so that a resumed run on CPU ends with the same
test metrics as one never interrupted (tests/test_checkpoint.py checks exactly that).

A checkpoint is a folder `<artifact_dir>/checkpoints/step-<N>/` written under a temporary name and
renamed into place, so a reader never sees half of one. `latest` returns the newest one that
loads; a damaged one (a crash mid-write on a filesystem without atomic rename, a truncated file)
is skipped for the one before it. The two newest are kept.

torch and numpy are imported where used: the scheduler reads which checkpoints exist
(`saved_steps`) without them.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Optional

KEEP = 2
STATE = "state.pt"


def folder(artifact_dir: str) -> Path:
    return Path(artifact_dir) / "checkpoints"


def due(step: int, total_steps: int, every_steps: int, since_last_s: float, every_s: float) -> bool:
    """A checkpoint after this step? Never at the last step (the run's result follows at once)."""
    if step >= total_steps:
        return False
    return bool(every_steps and step % every_steps == 0) or bool(every_s and since_last_s >= every_s)


def save(artifact_dir: str, step: int, state: dict) -> Path:
    """Write `state` (tensors and plain values) as the checkpoint of `step`, atomically; prune."""
    root = folder(artifact_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step}"
    tmp = root / f".step-{step}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    import torch

    torch.save({**state, "step": step, "rng": rng_state()}, tmp / STATE)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in saved_steps(artifact_dir)[KEEP:]:
        shutil.rmtree(root / f"step-{old}", ignore_errors=True)
    return final


def latest(artifact_dir: Optional[str]) -> Optional[dict]:
    """The newest checkpoint that loads (with its `step`), or None."""
    if not artifact_dir:
        return None
    import torch

    root = folder(artifact_dir)
    for step in saved_steps(artifact_dir):
        try:
            state = torch.load(root / f"step-{step}" / STATE, map_location="cpu", weights_only=False)
        except Exception:  # noqa: BLE001 - damaged or half-written: the one before it
            continue
        if isinstance(state, dict) and state.get("step") == step:
            return state
    return None


def discard(artifact_dir: str) -> None:
    """A finished run needs no checkpoint: its trained weights are saved beside them."""
    shutil.rmtree(folder(artifact_dir), ignore_errors=True)


def rng_state() -> dict:
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def saved_steps(artifact_dir) -> list[int]:
    """The steps with a checkpoint folder in `artifact_dir`, newest first (whether each loads is
    `latest`'s business)."""
    root = folder(str(artifact_dir))
    if not root.is_dir():
        return []
    return sorted((int(p.name[5:]) for p in root.iterdir() if p.name.startswith("step-") and p.name[5:].isdigit()),
                  reverse=True)
