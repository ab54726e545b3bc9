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
