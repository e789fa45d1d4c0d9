"""Shared by the browser checks: Debian's headless Chromium driven by Playwright, screenshots, and the switch.

These tests need `/usr/bin/chromium` (`apt-get install -y chromium`) and the `playwright` package (in
requirements.txt); Playwright drives the system Chromium and never downloads a browser. Without Chromium every
test fails when they are asked for (tests/browser named, or COURSE_BROWSER=1); a plain `make test` skips them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _selected(config: pytest.Config) -> bool:
    """True when this folder (or a file in it) was named on the command line, or COURSE_BROWSER=1."""
    if os.environ.get("COURSE_BROWSER") == "1":
        return True
    here = Path(__file__).parent.resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == here or here in path.parents:
            return True
    return False


@pytest.fixture(scope="module", autouse=True)
def _requirements(request):
    if not _selected(request.config):
        pytest.skip("browser check: run it with `make test-browser` (or COURSE_BROWSER=1)")
    # asked for by name: a missing browser is a failure, so a green run always means the check ran
    if not CHROMIUM.is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (Debian) to run the browser check")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("playwright is not installed: `make setup`")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("COURSE_ARTIFACTS") or tmp_path_factory.mktemp("browser-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\nbrowser screenshots: {folder}")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh --user-data-dir
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(60_000)
        tab = context.pages[0] if context.pages else context.new_page()
        try:
            yield tab
        finally:
            context.close()


