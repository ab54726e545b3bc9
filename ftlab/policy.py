"""Who may do what on a dashboard: the mode it serves in, sign-in, and the budget of each job.

    local        your machine: everything open (the default)
    demo         a public CPU Space: training within small caps, a few active jobs per user
    zerogpu      a ZeroGPU Space: like demo, each job inside one `@spaces.GPU` allocation
    leaderboard  read-only: Compare, Run and Playground over a seeded database

`Policy.from_env()` reads FTLAB_MODE and friends (spaces/README.md lists them). The service
enforces the policy on every command (`admit` before a submit, `check_owner` before a cancel),
so the dashboard's hidden buttons are a convenience, not the protection.

What a visitor may see and take on a dashboard where jobs have owners (sign-in required):
scores, configs, costs and curves of every run are public (a leaderboard); a run's trained
weights (Predict, download, export, push, continuing it), its logs, and an uploaded file are
its owner's (`check_private`, `check_upload_owner`). Runs that no visitor owns (baselines, runs
the operator seeded or trained from the command line) are the dashboard's own and public.
Uploading follows the same rules as submitting (`check_upload`: signed in, never in read-only
mode, a per-user quota), and uploads no job or run names are removed after `upload_retention_s`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Mapping, Optional

from ftlab.errors import ConfigError, FtlabError
from ftlab.uploads import in_folder, is_under

MODES = ("local", "demo", "zerogpu", "leaderboard")
ACTIVE = ("queued", "running")


class PermissionDenied(FtlabError):
    """The visitor may not do this (not signed in, not their job, read-only mode)."""


@dataclass(frozen=True)
class Caps:
    """The largest job a mode accepts. A config over a cap is refused, never silently shrunk,
    except the time budget: a job without one (or with a larger one) gets the cap's."""

    models: tuple[str, ...] = ("minilm", "tiny")
    hub_datasets: bool = False
    max_train: int = 2000
    max_eval: int = 1000
    epochs: float = 1.0
    max_length: int = 128
    batch_size: int = 32
    time_budget_s: float = 300.0

    def describe(self) -> str:
        from ftlab.text import t

        return (t("caps", models=", ".join(self.models), train=f"{self.max_train:,}", eval=f"{self.max_eval:,}",
                  epochs=f"{self.epochs:g}", tokens=self.max_length, batch=self.batch_size,
                  minutes=f"{self.time_budget_s / 60:g}")
                + ("" if self.hub_datasets else t("caps_no_hub")))


DEMO_CAPS = Caps()
ZEROGPU_CAPS = Caps(max_train=20000, max_eval=2000, epochs=3.0, batch_size=64, time_budget_s=100.0)


@dataclass(frozen=True)
class Policy:
    mode: str = "local"
    require_login: bool = False
    caps: Optional[Caps] = None
    max_active_per_user: Optional[int] = None
    upload_quota_mb: Optional[float] = None  # per user, all their uploads together; None: no quota
    upload_retention_s: float = 7 * 24 * 3600.0  # an upload no job or run names is removed after this

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"FTLAB_MODE must be one of {', '.join(MODES)} (got {self.mode!r})")

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def for_mode(cls, mode: str = "local", *, on_space: bool = False, require_login: Optional[bool] = None,
                 max_active_per_user: Optional[int] = None, time_budget_s: Optional[float] = None) -> "Policy":
        """The defaults of a mode. Sign-in is required on a Space (any mode that trains), and
        nowhere else unless asked."""
        mode = (mode or "local").strip().lower()  # an unknown mode is refused by __post_init__
        caps = {"demo": DEMO_CAPS, "zerogpu": ZEROGPU_CAPS}.get(mode)
        if caps is not None and time_budget_s:
            caps = replace(caps, time_budget_s=float(time_budget_s))
        if require_login is None:
            require_login = on_space
        active = max_active_per_user if max_active_per_user is not None else (3 if caps is not None else None)
        shared = caps is not None or bool(require_login)
        return cls(mode=mode, require_login=bool(require_login and mode != "leaderboard"), caps=caps,
                   max_active_per_user=active, upload_quota_mb=200.0 if shared else None,
                   upload_retention_s=(24 if shared else 7 * 24) * 3600.0)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Policy":
        """FTLAB_MODE, FTLAB_REQUIRE_LOGIN (1/0; default 1 on a Space), FTLAB_MAX_JOBS_PER_USER,
        FTLAB_TIME_BUDGET_S. SPACE_ID, which Hugging Face sets, says we are on a Space."""
        env = os.environ if env is None else env

        def number(name: str, kind):
            raw = env.get(name, "").strip()
            if not raw:
                return None
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number (got {raw!r})") from None
            if value <= 0:
                raise ConfigError(f"{name} must be positive (got {raw!r})")
            return value

        login = env.get("FTLAB_REQUIRE_LOGIN", "").strip().lower()
        if login and login not in ("1", "0", "true", "false", "yes", "no"):
            raise ConfigError(f"FTLAB_REQUIRE_LOGIN must be 1 or 0 (got {login!r})")
        return cls.for_mode(env.get("FTLAB_MODE", "local"), on_space=bool(env.get("SPACE_ID")),
                            require_login=(login in ("1", "true", "yes")) if login else None,
                            max_active_per_user=number("FTLAB_MAX_JOBS_PER_USER", int),
                            time_budget_s=number("FTLAB_TIME_BUDGET_S", float))

    # ---- what the UI shows ------------------------------------------------------------------
    @property
    def can_launch(self) -> bool:
        return self.mode != "leaderboard"

    @property
    def is_open(self) -> bool:
        """No rule to enforce (local use): `admit` would pass every config through unchanged."""
        return self.can_launch and not self.require_login and self.caps is None and not self.max_active_per_user

    @property
    def owner_only(self) -> bool:
        """Jobs belong to their user: only they may cancel, retry or re-prioritise them."""
        return self.require_login

    def describe(self) -> str:
        """What a visitor may do here, in the page's language (ftlab.text)."""
        from ftlab.text import t

        parts = [] if self.mode == "local" else [t(f"policy_{self.mode}")]
        if self.caps is not None:
            parts.append(t("policy_limits", caps=self.caps.describe()))
        if self.max_active_per_user:
            parts.append(t("policy_per_user", n=self.max_active_per_user))
        if self.require_login:
            parts.append(t("policy_sign_in"))
        return " ".join(parts)

    # ---- enforcement ------------------------------------------------------------------------
    def admit(self, configs: list, user: Optional[str], jobs: list[dict], uploads: Optional[str] = None) -> list:
        """The configs to queue for `user`, or PermissionDenied / ConfigError with every reason
        in one line. `jobs` are the current jobs (for the per-user limit); under caps, a file
        dataset must lie in the `uploads` folder (no other path on the server is readable)."""
        self.check_launch(user, jobs, adding=len(configs))
        if self.caps is None:
            return list(configs)
        return [self._capped(c, uploads) for c in configs]

    def check_launch(self, user: Optional[str], jobs: list[dict], adding: int) -> None:
        """May `user` queue `adding` more jobs at all (mode, sign-in, quota), before any config is built?"""
        if not self.can_launch:
            raise PermissionDenied("this dashboard is read-only (leaderboard mode): nothing can be launched")
        if self.require_login and not user:
            raise PermissionDenied("sign in with Hugging Face to launch runs")
        self.check_quota(user, jobs, adding)

    def check_quota(self, user: Optional[str], jobs: list[dict], adding: int) -> None:
        if not self.max_active_per_user:
            return
        active = sum(1 for j in jobs if j.get("status") in ACTIVE and j.get("owner") == user)
        if active + adding > self.max_active_per_user:
            raise PermissionDenied(f"at most {self.max_active_per_user} queued or running jobs per user: "
                                   f"you have {active}, this adds {adding}")

    def check_dataset(self, spec: str, uploads: Optional[str]) -> None:
        """Under caps: a built-in name, a file in the uploads folder, or (if allowed) a Hub name.
        No other path on the server is opened for a visitor."""
        from ftlab.data import list_datasets

        if spec in {d.name for d in list_datasets()} or (uploads and is_under(spec, uploads)):
            return
        hub_ok = self.caps is not None and self.caps.hub_datasets
        if os.path.exists(spec) or not hub_ok:
            raise ConfigError(f"dataset {spec!r}: only built-in or uploaded datasets here")

    def _capped(self, config, uploads: Optional[str]):
        caps, problems = self.caps, []
        if config.model not in caps.models:
            problems.append(f"model {config.model!r} is not allowed here (pick {', '.join(caps.models)})")
        try:
            self.check_dataset(config.dataset, uploads)
        except ConfigError as err:
            problems.append(str(err))
        for name, limit in (("max_train", caps.max_train), ("max_eval", caps.max_eval)):
            value = getattr(config, name)
            if value is None or value > limit:
                problems.append(f"{name} is capped at {limit:,} (got {'all' if value is None else f'{value:,}'})")
        for name in ("epochs", "max_length", "batch_size"):
            value, limit = getattr(config, name), getattr(caps, name)
            if value > limit:
                problems.append(f"{name} is capped at {limit:g} (got {value:g})")
        if problems:
            raise ConfigError(f"{config.method}: " + "; ".join(problems))
        budget = config.time_budget_s
        if not budget or budget > caps.time_budget_s:
            config = config.replace(time_budget_s=caps.time_budget_s)
        return config

    def check_upload(self, user: Optional[str], stored: tuple[int, int], size: int) -> None:
        """May `user` upload a file of `size` bytes, with `stored` = (files, bytes) of theirs kept?
        The same rules as launching: never in read-only mode, signed in where sign-in is required,
        and within the per-user quota."""
        if not self.can_launch:
            raise PermissionDenied("this dashboard is read-only (leaderboard mode): nothing can be uploaded")
        if self.require_login and not user:
            raise PermissionDenied("sign in with Hugging Face to upload a dataset")
        if self.upload_quota_mb is not None and stored[1] + size > self.upload_quota_mb * 2**20:
            raise PermissionDenied(f"at most {self.upload_quota_mb:g} MB of uploads per user: you keep "
                                   f"{stored[1] / 2**20:.1f} MB in {stored[0]} file(s), this adds {size / 2**20:.1f} MB; "
                                   f"uploads no run uses are removed after {self.upload_retention_s / 3600:g} h")

    def may_take(self, owner: Optional[str], user: Optional[str]) -> bool:
        """Whether `user` may take what belongs to `owner` (a run's weights, a job's log): anything
        locally; where jobs have owners, their own things and those nobody owns (the dashboard's)."""
        return not self.owner_only or owner is None or owner == user

    def check_private(self, owner: Optional[str], user: Optional[str], what: str, thing: str) -> None:
        """PermissionDenied unless `user` may take `what` of `thing` (`may_take`)."""
        if self.may_take(owner, user):
            return
        if not user:
            raise PermissionDenied(f"sign in with Hugging Face: the {what} of {thing} are its owner's")
        raise PermissionDenied(f"the {what} of {thing} are {owner}'s; scores and configs are public, weights, "
                               "logs and uploaded data only their owner's")

    def check_upload_owner(self, spec: str, uploads_root: str, user_folder: str) -> None:
        """Where jobs have owners, an uploaded file is usable only by who uploaded it (it lies in
        their `user_folder` of `uploads_root`)."""
        if self.owner_only and is_under(spec, uploads_root) and not in_folder(spec, user_folder):
            raise PermissionDenied(f"dataset {os.path.basename(spec)} is another visitor's upload; upload your own "
                                   "file")

    def check_owner(self, job: dict, user: Optional[str], action: str) -> None:
        if not self.can_launch:
            raise PermissionDenied(f"this dashboard is read-only (leaderboard mode): cannot {action}")
        if not self.owner_only:
            return
        if not user:
            raise PermissionDenied(f"sign in with Hugging Face to {action} jobs")
        if job.get("owner") != user:
            raise PermissionDenied(f"you can {action} only your own jobs (job {job.get('id')} is "
                                   f"{job.get('owner') or 'nobody'}'s)")

