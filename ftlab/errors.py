"""User-facing errors.

Every problem a user can fix (bad input, missing file, unknown name, offline Hub) is raised as
an `FtlabError` whose message is ONE line naming the problem and the fix. The CLI and the UI
print that line and never a traceback.
"""


class FtlabError(Exception):
    """An error with a one-line, user-facing message."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ConfigError(FtlabError):
    """A run configuration is invalid (unknown key, wrong type, out of range, impossible combo)."""


class DataError(FtlabError):
    """A dataset cannot be loaded or is unusable (missing, empty, wrong column, one class...)."""


class ModelError(FtlabError):
    """A model cannot be found or loaded."""


OOM_MESSAGE = "CUDA out of memory; lower --batch-size (and raise --grad-accum to keep the effective batch)"


def one_line(err: BaseException) -> str:
    """The line a user sees for any exception: an FtlabError's own message; anything else as one
    short line naming its type (the traceback goes to a log, never to a page or an event)."""
    if isinstance(err, FtlabError):
        return str(err)
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    if type(err).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, named without importing torch
        return OOM_MESSAGE
    text = " ".join(str(err).split())[:300] or "no message"
    return f"{type(err).__name__}: {text}"
