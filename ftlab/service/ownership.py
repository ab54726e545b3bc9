"""Whose is what on a shared dashboard (ftlab.policy): a run's owner, the runs a visitor may use,
and the uploaded files, their quota and their retention sweep (ftlab.uploads)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from ftlab import uploads


class Ownership:
    """Mixed into `Lab` (ftlab.service.lab): reads `self.policy`, `self.db_path`, `self.remote`,
    `self.store`, `self.jobs()`, `self._all_jobs()` and `self.runs()`."""

    SWEEP_EVERY_S = 3600.0
    _swept = -math.inf  # when this Lab last swept the uploads (time.monotonic)

    def run_owner(self, run_id: int) -> Optional[str]:
        """Who owns run `run_id`: the owner of the job that made it; None for a run no visitor owns
        (a baseline, a run trained from the command line or seeded by the operator)."""
        if not self.remote:
            return self.store.run_owner(int(run_id))
        return next((j.get("owner") for j in self.jobs() if j.get("run_id") == int(run_id)), None)

    def usable_runs(self, user: Optional[str] = None) -> list[dict]:
        """The runs whose weights `user` may use (the Playground's choices): every run locally; on a
        shared dashboard theirs and those nobody owns (ftlab.policy)."""
        runs = self.runs()
        if not self.policy.owner_only:
            return runs
        owners = {j.get("run_id"): j.get("owner") for j in self.jobs() if j.get("run_id") is not None}
        return [r for r in runs if self.policy.may_take(owners.get(r["id"]), user)]

    def check_private(self, run_id: int, user: Optional[str], what: str) -> None:
        """PermissionDenied unless `user` may take `what` (weights, logs) of run `run_id`."""
        self.policy.check_private(self.run_owner(run_id), user, what, f"run {run_id}")

    def check_upload_owner(self, spec: str, user: Optional[str]) -> None:
        """PermissionDenied for another visitor's uploaded file on a shared dashboard."""
        self.policy.check_upload_owner(spec, str(uploads.root(self.db_path)), str(uploads.folder(self.db_path, user)))

    def save_upload(self, tmp_path: str, user: Optional[str] = None) -> str:
        """Keep an uploaded dataset file for `user` (the same rules as launching, a per-user quota;
        ftlab.policy); returns its path. Uploads no job or run names are swept first."""
        if not self.remote:  # the process that holds the database knows every job and run
            self.sweep_uploads()
        size = Path(tmp_path).stat().st_size if tmp_path and Path(tmp_path).is_file() else 0
        mine = uploads.folder(self.db_path, user)
        self.policy.check_upload(user, uploads.usage(mine), size)
        return uploads.save(tmp_path, mine)

    def sweep_uploads(self, jobs: Optional[list[dict]] = None) -> list[str]:
        """Remove the uploads that no job (`jobs`, else all of them) or stored run names, once older
        than the policy's retention (ftlab.uploads.sweep); returns the removed paths."""
        if jobs is None:
            jobs = self._all_jobs()
        in_use = [(j.get("config") or {}).get("dataset") for j in jobs] + [r.get("dataset") for r in self.runs()]
        return uploads.sweep(uploads.root(self.db_path), in_use, self.policy.upload_retention_s)

    def _sweep_now_and_then(self, jobs: list[dict]) -> None:
        """The uploads' retention rule, applied at most once an hour by whoever lists the jobs (the
        Queue tab does every few seconds), so a quiet dashboard keeps no stale upload either."""
        import time

        if self.remote or time.monotonic() - self._swept < self.SWEEP_EVERY_S:
            return
        self._swept = time.monotonic()
        self.sweep_uploads(jobs)
