"""The README's screenshots of Launch and Compare in a given language, from a database of runs.

    # the Chinese pair in README.md ("The dashboard in Chinese")
    python docs/screenshots.py --db benchmarks/base_models.duckdb --lang zh --dataset zh-reviews

Serves the dashboard on the database (no scheduler: nothing runs), opens it in Debian's chromium
(Playwright) with the browser language set, picks the dataset on Launch (its card) and filters
Compare to it, and writes docs/launch-<lang>.png and docs/compare-<lang>.png at 1280x800.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LOCALES = {"zh": "zh-CN", "en": "en-US"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="a database of finished runs")
    p.add_argument("--lang", choices=sorted(LOCALES), default="zh")
    p.add_argument("--dataset", default="zh-reviews", help="the dataset Launch shows and Compare is filtered to")
    p.add_argument("--out", default=str(REPO / "docs"))
    args = p.parse_args()

    from playwright.sync_api import sync_playwright

    from ftlab.service import Lab
    from ftlab.ui.app import build_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lab = Lab(args.db)
    demo = build_app(lab)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
            page = browser.new_context(locale=LOCALES[args.lang], viewport={"width": 1280, "height": 800}).new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#launch-queue")
            box = page.locator("#launch-dataset input").first
            box.fill(args.dataset)
            box.press("Enter")
            page.wait_for_function("() => document.querySelector('#launch-card').innerText.includes(%r)" % args.dataset,
                                   timeout=120_000)
            time.sleep(1)
            page.screenshot(path=f"{args.out}/launch-{args.lang}.png")
            page.locator("button[role=tab]").nth(2).click()
            page.wait_for_selector("#compare-score .js-plotly-plot", timeout=60_000)
            box = page.locator("#compare-dataset input").first
            box.fill(args.dataset)
            box.press("Enter")
            page.keyboard.press("Escape")
            time.sleep(6)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=f"{args.out}/compare-{args.lang}.png")
            browser.close()
    finally:
        demo.close()
        lab.close()
    print(f"wrote {args.out}/launch-{args.lang}.png and {args.out}/compare-{args.lang}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
