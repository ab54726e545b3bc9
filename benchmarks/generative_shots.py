"""Screenshots of a generative grid in Debian's chromium: Compare (score and forgetting of general
text), the Run tab's test generations filtered to the wrong ones, and the Playground answering.

    python -m ftlab run experiments/generative-compare.yaml --db gen.duckdb --no-baselines
    python benchmarks/generative_shots.py --db gen.duckdb --out docs

Writes compare-generative.png, compare-generative-forgetting.png, run-generations.png and
playground-generate.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "ui"))

QUESTION = "What is the sentiment of this tweet? Answer with one word: negative, neutral or positive.\n\n" \
           "Tweet: the new update is great, everything loads twice as fast"


def shoot(db: str, out: Path) -> None:
    from browser_kit import CHROMIUM, CHROMIUM_ARGS, add_choice, dashboard, open_tab, pick
    from playwright.sync_api import expect, sync_playwright

    from ftlab.ui.logic import run as run_logic

    out.mkdir(parents=True, exist_ok=True)
    with dashboard(db, start_scheduler=False) as (url, lab), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}/?tab=compare")
        page.wait_for_selector("#compare-score .js-plotly-plot", timeout=60_000)
        page.wait_for_timeout(2000)
        page.locator("#compare-score").screenshot(path=str(out / "compare-generative.png"))
        page.locator("#compare-general").screenshot(path=str(out / "compare-generative-forgetting.png"))

        runs = lab.runs(status="succeeded")
        lora = max((r for r in runs if r["method"] == "lora"), key=lambda r: r["accuracy"])
        label = next(text for text, i in run_logic.run_choices(runs) if i == lora["id"])
        open_tab(page, "Run")
        pick(page, "run-picker", label)
        table = page.locator("#run-generations")
        expect(table).to_be_visible(timeout=60_000)
        page.locator("#run-generations-wrong input").check()
        page.wait_for_timeout(1500)
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(out / "run-generations.png"))

        open_tab(page, "Playground")
        page.locator("#playground-refresh").click()
        page.wait_for_timeout(1500)
        tokens = page.locator("#playground-runs .token-remove")
        while tokens.count():
            tokens.first.click()
            page.wait_for_timeout(200)
        usable = run_logic.run_choices(runs, with_artifacts=True, artifact_path=lab.artifact_path)
        picks = [next((text for text, i in usable if i == r["id"]), None)
                 for r in (lora, next(r for r in runs if r["method"] == "zero-shot"))]
        for text in picks:
            if text:
                add_choice(page, "playground-runs", text)
        page.locator("#playground-text textarea").fill(QUESTION)
        page.locator("#playground-predict").click()
        expect(page.locator("#playground-status")).to_contain_text("predicted", timeout=300_000)
        page.screenshot(path=str(out / "playground-generate.png"))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="A database holding a generative grid.")
    parser.add_argument("--out", default=str(ROOT / "screenshots"), help="Folder for the PNG files.")
    args = parser.parse_args()
    shoot(args.db, Path(args.out))
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
