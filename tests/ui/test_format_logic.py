"""What every tab shows on a problem: one line (ftlab.errors.one_line) as Markdown (ftlab/ui/logic/format.py)."""

from ftlab.errors import FtlabError, one_line
from ftlab.ui.logic.format import status_markdown


def test_one_line_never_shows_a_traceback():
    assert one_line(FtlabError("run 3 does not exist")) == "run 3 does not exist"
    text = one_line(ValueError("bad\n  thing\n" + "x" * 1000))
    assert text.startswith("ValueError: bad thing") and "\n" not in text and len(text) < 400
    assert status_markdown("a_b", ok=False) == "**Problem:** a\\_b"
