"""What a succeeded run's weights are for: export, download, push to the Hub, predict; and where its
weights folder is."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


class TrainedRuns:
    """Mixed into `Lab` (ftlab.service.lab): reads `self.db_path`, `self.caches`, `self._own_store()`
    and `self.check_private`."""

    def _trained(self, run_id: int, what: str, user: Optional[str] = None) -> tuple[dict, str]:
        """A succeeded run and its artifacts folder, or the one-line reason there is none or that
        `user` may not take it (another visitor's run on a shared dashboard)."""
        from ftlab.errors import FtlabError

        run = self._own_store().get_run(int(run_id))
        self.check_private(int(run_id), user, "trained weights")
        art = self.artifact_path(run)
        if run.get("status") != "succeeded" or not art or not Path(art).is_dir():
            raise FtlabError(f"run {run_id} has no trained weights to {what} (status {run.get('status')})")
        return run, art

    def export(self, run_id: int, fmt: str, out_dir: str, user: Optional[str] = None) -> str:
        """Write a succeeded run as a standard peft adapter or merged transformers folder with a Hub
        model card (ftlab.train.export); returns the folder. The run's owner's (ftlab.policy)."""
        from ftlab.train import export

        run, art = self._trained(run_id, "export", user)
        return export.export(art, fmt, out_dir, run)

    def weights_path(self, run_id: int, user: Optional[str] = None) -> str:
        """A succeeded run's trained-weights folder, for its owner to download (ftlab.policy)."""
        return self._trained(run_id, "download", user)[1]

    def push(self, run_id: int, repo: str, fmt: str = "auto", token: Optional[str] = None,
             private: bool = False, user: Optional[str] = None) -> str:
        """Upload a succeeded run's export to the Hub model repo `repo`; returns its URL."""
        from ftlab.train import export

        run, art = self._trained(run_id, "push", user)
        return export.push(art, run, repo, fmt=fmt, token=token, private=private)

    def predict(self, run_id: int, texts: list[str], user: Optional[str] = None) -> dict:
        """Predictions of a trained run on raw texts: {"task", "predictions": [...]}, for the run's
        owner on a shared dashboard (ftlab.policy). The trained weights load once per run (the last
        4 runs stay in memory)."""
        run, art = self._trained(run_id, "load", user)
        from ftlab.train import artifacts

        predictor = self.caches.get("predictors", int(run_id), lambda: artifacts.load(art))
        return {"task": run.get("task"), "predictions": predictor.predict(list(texts))}

    def stream(self, run_id: int, text: str, user: Optional[str] = None):
        """A generative run's answer to `text`, yielded as it grows; None for a run whose task does
        not generate (use predict). Same access and cache as predict."""
        run, art = self._trained(run_id, "load", user)
        from ftlab.train import artifacts

        predictor = self.caches.get("predictors", int(run_id), lambda: artifacts.load(art))
        return predictor.stream(text) if predictor.streams else None

    @staticmethod
    def resolve_artifacts(db_path: str, artifact_dir: Optional[str]) -> Optional[str]:
        """A stored weights path: a relative one is relative to the database's folder, so a
        database moved together with its -artifacts/ folder (a built Space) still finds them."""
        if not artifact_dir or Path(artifact_dir).is_absolute():
            return artifact_dir
        beside = Path(db_path).resolve().parent / artifact_dir
        return str(beside) if beside.is_dir() else artifact_dir  # else: relative to where it was trained

    def artifact_path(self, run: dict) -> Optional[str]:
        """A run's trained-weights folder (see resolve_artifacts)."""
        return self.resolve_artifacts(self.db_path, run.get("artifact_dir"))
