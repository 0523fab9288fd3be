"""Fixtures for the browser tests: the demo served by `python app.py` in a subprocess on 127.0.0.1, and
Debian's Chromium driven headless by Playwright (no browser download: `playwright install` is never run).

The app runs from a temporary working directory with its own Gradio upload folder, so the tests also show
that it assumes no path of this repository other than its assets/. It uses the tiny test model (fast) on
one CPU thread (steady timing beside other work); JOINTNLT_BROWSER_WEIGHTS=bundled uses the bundled Lite
model instead (how docs/images/demo.png is made). Screenshots go to test-artifacts/browser/ (ignored by
git) or $JOINTNLT_TEST_ARTIFACTS. Without Chromium or Playwright the tests are skipped, or fail when
JOINTNLT_REQUIRE_BROWSER=1 (CI).
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120


def _unavailable(reason: str):
    if os.environ.get("JOINTNLT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (JOINTNLT_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("JOINTNLT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        _unavailable("Chromium not found (apt-get install chromium, or set JOINTNLT_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(os.environ.get("JOINTNLT_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts") / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"python app.py exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"python app.py did not serve {url} within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def demo_url(tiny_weights, tmp_path_factory):
    """`python app.py` on a free port of 127.0.0.1; stopped (its own process only) after the tests."""
    workdir = tmp_path_factory.mktemp("app-cwd")
    port = _free_port()
    bundled = os.environ.get("JOINTNLT_BROWSER_WEIGHTS") == "bundled"
    env = dict(os.environ, GRADIO_TEMP_DIR=str(workdir / "gradio-uploads"), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env.pop("JOINTNLT_WEIGHTS", None)
    if not bundled:
        env["JOINTNLT_WEIGHTS"] = str(tiny_weights)
    log = workdir / "app.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), "--port", str(port)],
                                   cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(f"\n--- python app.py log ({log}) ---\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def run_timeout_ms() -> int:
    """How long a whole run may take: the tiny model tracks ~10 frames/s on one thread, the Lite ~1."""
    return 900_000 if os.environ.get("JOINTNLT_BROWSER_WEIGHTS") == "bundled" else 120_000


@pytest.fixture
def page(browser, demo_url):
    """A fresh page (its own Gradio session) on the demo, loaded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(demo_url)
    page.wait_for_selector("#run")
    yield page
    context.close()
