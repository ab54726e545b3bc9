"""The Space, built by `python -m ftlab space build` into a temporary folder and started from
there (no repository on the path), in a real browser, in each mode.

Sign-in is real gradio OAuth in its off-Space form: the "Sign in with Hugging Face" button goes
through gradio's login routes, which ask the Hub's whoami API who the token belongs to. The Hub
is the stubbed boundary: a local HTTP server answers whoami (HF_ENDPOINT points at it).
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_kit import VIEWPORT, fill, free_port, open_tab, pick, plot_meta, shot, upload, wait_for
from hub_stub import hub_api

ROOT = Path(__file__).parents[2]
SEED = """\
name: space-seed
base: {model: tiny, dataset: tweets-sentiment, max_train: 64, max_eval: 32, max_steps: 4, batch_size: 16, epochs: 1}
grid: {method: [head, lora], seed: [0]}
"""

sync_api = pytest.importorskip("playwright.sync_api", reason="browser test needs playwright: pip install playwright==1.65.2")
expect = sync_api.expect


def clean_env(**extra) -> dict:
    """No repository on the path, no Space or Hub settings from the outside."""
    drop = ("PYTHONPATH", "SPACE_ID", "FTLAB_MODE", "FTLAB_REQUIRE_LOGIN", "FTLAB_DB", "FTLAB_AUTH", "HF_TOKEN",
            "HF_ENDPOINT", "HF_HUB_OFFLINE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(GRADIO_ANALYTICS_ENABLED="False", **extra)
    return env


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """A Space folder seeded with two tiny runs (trained by the build: no --from-db)."""
    work = tmp_path_factory.mktemp("space-build")
    seed = work / "seed.yaml"
    seed.write_text(SEED)
    out = work / "space"
    done = subprocess.run([sys.executable, "-m", "ftlab", "space", "build", str(out), "--experiment", str(seed),
                           "--from-db", str(work / "none.duckdb"), "--quiet"],
                          cwd=ROOT, env=clean_env(PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0 runs copied, 2 trained, 0 failed of 2" in done.stdout
    return out


class Served:
    def __init__(self, folder: Path, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / f"app-{self.port}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=folder, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=clean_env(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(self.port),
                                                   **env))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (folder / f"app-{self.port}.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(self.url, timeout=5)
                return
            except OSError:
                time.sleep(1)
        raise AssertionError("the Space did not start in 180 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def fake_hub():
    """The Hub's whoami endpoint, answering for the token the Space is given."""

    def whoami(path, headers):
        if path.startswith("/api/whoami-v2") and headers.get("authorization") == "Bearer hf_alice_token":
            return 200, {"type": "user", "name": "alice", "fullname": "Alice Example", "avatarUrl": "", "orgs": []}, {}
        return 401, {"error": "Invalid credentials"}, {}

    with hub_api(whoami) as (url, _):
        yield url


def lora_on_tiny(page, max_train: str) -> None:
    """The Launch form for one LoRA run on the tiny model, 4 steps."""
    methods = page.locator("#launch-methods")
    for name in ("full", "ia3"):
        methods.get_by_label(name, exact=True).uncheck()
    pick(page, "launch-model", "tiny")
    for elem_id, value in (("launch-max-train", max_train), ("launch-max-eval", "32"), ("launch-max-steps", "4")):
        fill(page, elem_id, value)


# ---- the built folder ----------------------------------------------------------------------------

def test_the_built_folder_is_a_space(space):
    header = (space / "README.md").read_text().split("---")[1]
    for line in ("sdk: gradio", "sdk_version: 6.31.0", "app_file: app.py", "hf_oauth: true", "short_description:"):
        assert line in header, line
    for path in ("app.py", "requirements.txt", "ftlab/__init__.py", "ftlab/ui/app.py", "ftlab.duckdb",
                 "ftlab-artifacts/run-1/run.json", "ftlab-artifacts/run-2/trained.safetensors", ".gitattributes"):
        assert (space / path).exists(), path
    assert not list(space.rglob("__pycache__"))
    assert "*.safetensors filter=lfs" in (space / ".gitattributes").read_text()
    which = subprocess.run([sys.executable, "-c", "import ftlab; print(ftlab.__file__)"], cwd=space, env=clean_env(),
                           capture_output=True, text=True, timeout=60)
    assert Path(which.stdout.strip()).resolve().is_relative_to(space.resolve()), which.stdout  # not the repo's copy
    from ftlab.store import Store

    with Store(space / "ftlab.duckdb") as store:
        runs = store.runs_records()
    assert sorted(r["method"] for r in runs) == ["head", "lora"] and {r["status"] for r in runs} == {"succeeded"}
    assert all(not Path(r["artifact_dir"]).is_absolute() for r in runs)  # the folder can move


def test_build_refuses_a_folder_in_use(space):
    out = subprocess.run([sys.executable, "-m", "ftlab", "space", "build", str(space)], cwd=ROOT,
                         env=clean_env(PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.strip().startswith("error: ") and "--force" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# ---- modes in the browser ------------------------------------------------------------------------

@pytest.mark.timeout(600)
def test_leaderboard_is_read_only_and_shows_the_seeded_runs(space, browser):
    served = Served(space, FTLAB_MODE="leaderboard", SPACE_ID="someone/ftlab")
    try:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(served.url)
        page.wait_for_selector("#compare-score")
        expect(page.get_by_role("tab", name="Launch", exact=True)).to_have_count(0)
        expect(page.get_by_role("tab", name="Queue", exact=True)).to_have_count(0)
        expect(page.locator("#login")).to_have_count(0)  # read-only: nothing to sign in for
        expect(page.locator("#policy")).to_contain_text("Read-only leaderboard")
        meta = wait_for(lambda: (m := plot_meta(page, "compare-score")) and m["meta"] and m["meta"].get("n_points")
                        and m["meta"], 90, "the chart", poll=1)
        assert meta["n_points"] == 2 and sorted(meta["labels"]) == ["head", "lora"]
        shot(page, "space-leaderboard")
        page.get_by_role("tab", name="Run", exact=True).click()
        expect(page.locator("#run-rerun")).to_be_hidden()
        page.get_by_role("tab", name="Playground", exact=True).click()
        page.locator("#playground-text textarea").fill("what a wonderful day")
        runs_box = page.locator("#playground-runs input").first
        option = page.get_by_role("option").filter(has_text="lora (64 examples) · seed 0")
        wait_for(lambda: runs_box.click() or runs_box.fill("lora (64 examples) · seed 0") or option.count() == 1, 30,
                 "the seeded lora run in the Playground", poll=1)  # listed only if its weights are found in the folder
        option.click()
        page.keyboard.press("Escape")
        page.locator("#playground-predict").click()
        expect(page.locator("#playground-status")).to_contain_text("1 run(s) predicted", timeout=120_000)
        expect(page.locator("#playground-label-0")).to_contain_text("positive")
    finally:
        served.stop()


@pytest.mark.timeout(900)
def test_demo_caps_sign_in_ownership_and_uploads(space, browser, fake_hub, tmp_path):
    served = Served(space, FTLAB_MODE="demo", FTLAB_REQUIRE_LOGIN="1", FTLAB_MAX_JOBS_PER_USER="2",
                    FTLAB_MAX_UPLOAD_MB="1", HF_ENDPOINT=fake_hub, HF_TOKEN="hf_alice_token")
    try:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(served.url)
        page.wait_for_selector("#launch-queue")
        expect(page.locator("#launch-policy")).to_contain_text("Limits per job: models minilm, tiny")
        expect(page.locator("#launch-policy")).to_contain_text("At most 2 queued or running jobs per user")
        login = page.locator("#login")
        expect(login).to_contain_text("Sign in with Hugging Face")
        shot(page, "space-demo")

        # anonymous: browsing works, launching is refused with the reason
        lora_on_tiny(page, max_train="64")
        page.locator("#launch-queue").click()
        expect(page.locator("#launch-status")).to_contain_text("sign in with Hugging Face to launch runs",
                                                               timeout=60_000)

        # uploads: over the size limit, and malformed, are refused with a message
        big = tmp_path / "big.csv"
        big.write_text("text,label\n" + "a long review that is fine,pos\n" * 80_000)  # ~2.4 MB
        upload(page, big)
        expect(page.get_by_text("exceed the maximum allowed size of 1.0 Mb")).to_be_visible(timeout=60_000)
        shot(page, "space-upload-too-big")
        bad = tmp_path / "bad.jsonl"
        bad.write_text("this is not json\n{\"text\": 1\n")
        upload(page, bad)  # anonymous: an upload is refused like a launch, and nothing is kept
        expect(page.locator("#launch-status")).to_contain_text("sign in with Hugging Face to upload a dataset",
                                                               timeout=60_000)
        assert not list((space / "ftlab-uploads").rglob("upload-*"))

        # sign in (gradio's login route -> the Hub's whoami, stubbed) and come back as alice
        login.click()
        expect(page.locator("#login")).to_contain_text("alice", timeout=60_000)
        page.wait_for_selector("#launch-queue")
        lora_on_tiny(page, max_train="50000")
        page.locator("#launch-queue").click()
        expect(page.locator("#launch-status")).to_contain_text("max_train is capped at 2,000 (got 50,000)",
                                                               timeout=60_000)
        fill(page, "launch-max-train", "64")
        page.locator("#launch-queue").click()
        expect(page.locator("#queue-table")).to_contain_text("succeeded", timeout=300_000)

        # bob's job (queued through the inbox, as another process would) is not alice's to cancel
        from ftlab.config import RunConfig
        from ftlab.service import Lab

        bob_config = RunConfig(model="tiny", dataset="tweets-sentiment", method="head", max_train=64, max_eval=32,
                               max_steps=4, epochs=1)
        with Lab(str(space / "ftlab.duckdb")) as remote:
            assert remote.remote
            (bob_job,) = remote.submit([bob_config], priority=-1, owner="bob")
        expect(page.locator("#queue-table")).to_contain_text(bob_job, timeout=30_000)
        fill(page, "queue-job-id", bob_job)
        page.locator("#queue-cancel").click()
        expect(page.locator("#queue-action")).to_contain_text(f"only your own jobs (job {bob_job} is bob's)")
        shot(page, "space-demo-queue")

        # signed in, an upload is kept in alice's own folder, and the card says what is wrong with it
        open_tab(page, "Launch")
        upload(page, bad)
        expect(page.locator("#launch-card")).to_contain_text("line", timeout=60_000)
        (kept,) = (space / "ftlab-uploads").rglob("upload-*")
        assert kept.parent.name.startswith("u-")
    finally:
        served.stop()
