"""Option groups: the frozen, validated pydantic base that RunConfig and every method's options
share, and the one-line error for a bad value.

It imports pydantic and ftlab.errors only, so `ftlab.config` (which asks the method registry to
validate a run) and `ftlab.methods` (whose option classes derive from `Options`) both import it
without importing each other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from ftlab.errors import ConfigError


class Options(BaseModel):
    """Base of every option group: frozen, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """One line naming each bad field, e.g. "batch_size: must be >= 1 (got 0)"."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p != "__root__")
        name = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "config"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown option"
        elif "input" in e and e["type"] not in ("missing",) and not isinstance(e["input"], dict):
            msg = f"{msg} (got {e['input']!r})"
        parts.append(f"{name}: {msg}")
    return "; ".join(parts)


def build_options(cls: type[Options], values: dict | Options | None, prefix: str) -> Options:
    """Validate `values` into `cls`, raising ConfigError with one line naming the field."""
    if isinstance(values, cls):
        return values
    if values is None:
        values = {}
    if isinstance(values, Options):
        values = values.model_dump()
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping of options, got {values!r}")
    try:
        return cls(**values)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, prefix)) from None
