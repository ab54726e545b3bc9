"""Screenshots of Compare on a busy database (busy_db.py), in Debian's chromium: the default view
(the latest experiment) and every experiment chosen at once, each chart as a user sees it.

    python benchmarks/compare_shots.py --out docs/screenshots [--db /tmp/busy.duckdb] [--lang en]

Writes compare-busy-latest.png, compare-busy-all.png and one compare-busy-<chart>.png per chart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "ui"))

from busy_db import write_busy_db  # noqa: E402

CHARTS = ("score", "curve", "forgetting", "throughput", "memory", "loss", "eval")


def shoot(db: str, out: Path, lang: str = "en", experiments: str = "all") -> None:
    from browser_kit import CHROMIUM, CHROMIUM_ARGS, dashboard, open_tab
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with dashboard(db, start_scheduler=False) as (url, _lab), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN" if lang == "zh" else "en-US")
        page.goto(f"{url}/?tab=compare&lang={lang}")
        page.wait_for_selector("#compare-score .js-plotly-plot", timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "compare-busy-latest.png"))
        # every experiment: clear the picker (empty = every run)
        box = page.locator("#compare-experiment")
        for _ in range(3):
            remove = box.locator("button.token-remove, .token-remove")
            if remove.count() == 0:
                break
            remove.first.click()
        page.locator("#compare-refresh").click()
        page.wait_for_timeout(4000)
        page.screenshot(path=str(out / "compare-busy-all.png"), full_page=True)
        for name in CHARTS:
            chart = page.locator(f"#compare-{name}")
            if chart.is_visible():
                chart.screenshot(path=str(out / f"compare-busy-{name}.png"))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"), help="Folder for the PNG files.")
    parser.add_argument("--db", help="A database to show; default: a fresh busy one in a temp folder.")
    parser.add_argument("--lang", default="en", choices=["en", "zh"], help="The page's language.")
    args = parser.parse_args()
    db = args.db
    if not db:
        db = str(Path(tempfile.mkdtemp(prefix="ftlab-busy-")) / "busy.duckdb")
        write_busy_db(db)
    shoot(db, Path(args.out), args.lang)
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
