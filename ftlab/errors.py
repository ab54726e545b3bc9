"""User-facing errors.

Every problem a user can fix (bad input, missing file, unknown name, offline Hub) is raised as
an `FtlabError` whose message is ONE line naming the problem and the fix. The CLI and the UI
print that line and never a traceback.

A message names the setting to change with `field("label_column")`; `str(err)` spells it as the
command line does (`--label-column`), and `err.render(name)` lets the dashboard name the widget
on its page instead ("Columns and encoding > Label column").

Imports the standard library only: every layer may use it.
"""

import re
from typing import Callable, Optional

_FIELD = re.compile(r"\{field:(\w+)\}")


def field(name: str) -> str:
    """A RunConfig field named inside an error message, spelled by whoever shows the message."""
    return "{field:%s}" % name


def cli_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class FtlabError(Exception):
    """An error with a one-line, user-facing message."""

    def __init__(self, message: str):
        self.template = " ".join(str(message).split())
        super().__init__(self.render(cli_flag))

    def render(self, name: Callable[[str], str]) -> str:
        """The message with each field spelled by `name` (e.g. the label of a widget)."""
        return _FIELD.sub(lambda m: name(m.group(1)), self.template)


class ConfigError(FtlabError):
    """A run configuration is invalid (unknown key, wrong type, out of range, impossible combo)."""


class DataError(FtlabError):
    """A dataset cannot be loaded or is unusable (missing, empty, wrong column, one class...)."""


class ModelError(FtlabError):
    """A model cannot be found or loaded."""


OOM_MESSAGE = ("out of memory: lower --batch-size (raise --grad-accum to keep the effective batch), or let the queue "
               "fall back on its own (--oom-fallbacks batch,checkpointing,quantize)")


def one_line(err: BaseException, name: Optional[Callable[[str], str]] = None) -> str:
    """The line a user sees for any exception: an FtlabError's own message (its fields spelled by
    `name`, command-line flags by default); anything else as one short line naming its type (the
    traceback goes to a log, never to a page or an event)."""
    if isinstance(err, FtlabError):
        return err.render(name) if name else str(err)
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    if type(err).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, named without importing torch
        return OOM_MESSAGE
    text = " ".join(str(err).split())[:300] or "no message"
    return f"{type(err).__name__}: {text}"
