"""A Lab in remote mode in the test's own process: what a second process (the CLI, another
dashboard) gets while a scheduler holds the database."""

from ftlab.errors import FtlabError
from ftlab.service import Lab


def remote_lab(db, monkeypatch):
    """A Lab in remote mode on a database this process holds: one that reads the snapshot."""
    import ftlab.service.lab

    def held(path):
        raise FtlabError(f"database {path} is in use by another ftlab process")

    monkeypatch.setattr(ftlab.service.lab, "Store", held)
    lab = Lab(db)
    monkeypatch.undo()
    assert lab.remote
    return lab
