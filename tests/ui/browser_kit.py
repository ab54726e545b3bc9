"""What the browser tests share: Debian's chromium driven by Playwright, and page helpers for
the dashboard's widgets (found by their elem_id)."""

import socket
import time
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
SCREENSHOTS = Path(__file__).parents[2] / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(value)
    box.blur()  # not Tab: focusing the next field would open it if it is a dropdown


def pick(page, elem_id: str, value: str) -> None:
    """Choose `value` in a dropdown and close it."""
    from playwright.sync_api import expect

    add_choice(page, elem_id, value)
    expect(page.locator(f"#{elem_id} input").first).to_have_value(value)
    expect(page.get_by_role("option")).to_have_count(0)


def add_choice(page, elem_id: str, value: str) -> None:
    """Add `value` to a multiselect dropdown (its box empties after each choice) and close it."""
    box = page.locator(f"#{elem_id} input").first
    box.click()
    box.fill(value)
    box.press("Enter")
    box.press("Escape")
    box.blur()


def wait_for(condition, timeout: float, what: str, poll: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def upload(page, path) -> None:
    """Upload a file through the Launch tab's upload button."""
    with page.expect_file_chooser() as chooser:
        page.locator("#launch-upload").click()
    chooser.value.set_files(str(path))


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def shot(page, name: str) -> None:
    """The tab as a 1280x800 screen shows it when opened: scrolled to the top."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def plot_meta(page, elem_id: str):
    """A Plotly chart's layout.meta (what ftlab.charts says it drew), its trace count and x values."""
    return page.evaluate(
        "(id) => { const d = document.querySelector(`#${id} .js-plotly-plot`);"
        " return d && d.layout && d.data ? {meta: d.layout.meta || null, traces: d.data.length,"
        " xs: d.data.map(t => t.x ? Array.from(t.x) : [])} : null; }", elem_id)


@contextmanager
def dashboard(db: str, **lab_options):
    """The dashboard over a fresh Lab on `db`, served on a free loopback port in this process;
    yields (url, lab)."""
    from ftlab.service import Lab
    from ftlab.ui.app import build_app

    lab = Lab(str(db), **lab_options)
    demo = build_app(lab)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}", lab
    finally:
        demo.close()
        lab.close()


def require_browser():
    """Skip the calling test module without Debian's chromium or playwright; else playwright's
    sync API."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser test needs Debian's chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver",
                    allow_module_level=True)
    return pytest.importorskip("playwright.sync_api",
                               reason="browser test needs playwright: pip install playwright==1.65.2")
