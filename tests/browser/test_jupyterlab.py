"""The course in a real browser: JupyterLab in Debian's headless Chromium, driven by Playwright.

`make test-browser` starts JupyterLab on 127.0.0.1 (random free port, random token) over a scratch copy of
notebooks/, opens the setup notebook and runs every cell, then opens the capstone and talks to its chat box.
It fails on a kernel error in any output and on a widget that does not render. Screenshots go to
$COURSE_ARTIFACTS (default: a pytest temporary folder, printed at the end). What it needs: conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from utils import ROOT

SETUP_NOTEBOOK = "00_setup.ipynb"
CHAT_NOTEBOOK = "13_chatbot.ipynb"
RUN_TIMEOUT_S = int(os.environ.get("COURSE_BROWSER_TIMEOUT", "600"))
# What a kernel error or a broken widget looks like in JupyterLab's DOM.
ERROR_PATTERNS = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception): ", re.MULTILINE)
BROKEN_WIDGET_TEXT = ("Error displaying widget", "Loading widget...", "A Jupyter widget could not be displayed")
# JupyterLab user settings for the test server: start the kernel without asking, fetch no news, never autosave.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True,
                                                                    "windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[dict]:
    """A JupyterLab server over a scratch copy of notebooks/ (so saving never touches the committed lessons)."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "course"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for shared in ("data", "utils", "adapters"):
        if (ROOT / shared).exists():
            (root / shared).symlink_to(ROOT / shared)
    for name, values in LAB_SETTINGS.items():
        settings = home / "settings" / name
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(values), encoding="utf-8")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    log = (home / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"JupyterLab did not start:\n{(home / 'jupyter.log').read_text()[-3000:]}")
        time.sleep(1)
    try:
        yield {"base": base, "token": token, "root": root, "log": home / "jupyter.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _code_cells(notebook: Path) -> int:
    return sum(c["cell_type"] == "code" for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"])


def _open(page, lab: dict, notebook: str) -> None:
    """Open a notebook and wait until all its code cells are in the page and its kernel is idle."""
    page.goto(f"{lab['base']}/lab/tree/notebooks/{notebook}?token={lab['token']}", timeout=120_000)
    expected = _code_cells(lab["root"] / "notebooks" / notebook)
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
    deadline = time.monotonic() + 180
    while cells.count() < expected:
        _accept_kernel_dialog(page)
        if time.monotonic() > deadline:
            pytest.fail(f"{notebook}: {cells.count()} of {expected} code cells rendered after 180 s")
        time.sleep(0.5)
    _wait_for_kernel(page)


def _accept_kernel_dialog(page) -> None:
    """A slow start can still ask which kernel to use: take the preselected Python 3."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count() and dialog.first.is_visible():
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()


def _wait_for_kernel(page, timeout_s: float = 180) -> None:
    """Wait until the notebook's kernel reports idle."""
    indicator = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator")
    deadline = time.monotonic() + timeout_s
    while indicator.count() == 0 or indicator.first.get_attribute("data-status") != "idle":
        _accept_kernel_dialog(page)
        if time.monotonic() > deadline:
            status = indicator.first.get_attribute("data-status") if indicator.count() else "no indicator"
            pytest.fail(f"the kernel did not become idle (status: {status})")
        time.sleep(0.5)


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def _run_all(page, lab: dict, notebook: str, artifacts: Path) -> dict:
    """Clear the committed outputs, run every cell in the fresh kernel, save; returns the saved notebook.

    Fails unless every code cell ran, in order, in this kernel (execution counts 1, 2, ... in the saved file).
    """
    _menu(page, "Edit", "Clear Outputs of All Cells")
    _menu(page, "Run", "Run All Cells")
    prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    stderr = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                          ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    while True:
        texts = [t.strip() for t in prompts.all_inner_texts()]
        if texts and all(re.fullmatch(r"\[\d+\]:", t) for t in texts):
            break
        errors = _error_texts(stderr.all_inner_texts())
        if errors:  # Run All stops at the first error: fail now instead of waiting for the timeout
            page.screenshot(path=str(artifacts / f"{Path(notebook).stem}_error.png"), full_page=True)
            pytest.fail(f"{notebook}: kernel error while running: {errors}")
        if time.monotonic() > deadline:
            page.screenshot(path=str(artifacts / f"{Path(notebook).stem}_timeout.png"), full_page=True)
            pytest.fail(f"{notebook}: cells still pending after {RUN_TIMEOUT_S} s: {texts}")
        time.sleep(1)
    _wait_for_kernel(page)
    page.keyboard.press("Control+s")
    saved = lab["root"] / "notebooks" / notebook
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        notebook_json = json.loads(saved.read_text(encoding="utf-8"))
        counts = [c.get("execution_count") for c in notebook_json["cells"] if c["cell_type"] == "code"]
        if counts == list(range(1, len(counts) + 1)):
            return notebook_json
        time.sleep(0.5)
    pytest.fail(f"{notebook}: the saved file does not show one fresh run of every cell: {counts}")


def _error_texts(outputs: list[str]) -> list[str]:
    """Outputs that look like a traceback (warnings printed to stderr do not count)."""
    return [t[:300] for t in outputs if ERROR_PATTERNS.search(t) and "Warning" not in t.split("\n", 1)[0]]


def _assert_no_errors(page, notebook_json: dict, notebook: str) -> None:
    errors = [f"{o['ename']}: {o['evalue']}" for c in notebook_json["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{notebook}: kernel errors {errors}"
    shown = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output").all_inner_texts()
    broken = _error_texts(shown)
    assert not broken, f"{notebook}: error text in outputs {broken}"


def _assert_widgets_render(page, notebook_json: dict, notebook: str) -> int:
    """Every widget output the kernel produced is a rendered widget view, not a fallback or an error."""
    expected = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for c in notebook_json["cells"] for o in c.get("outputs", []))
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    text = "\n".join(panel.locator(".jp-OutputArea-output").all_inner_texts())
    assert not [b for b in BROKEN_WIDGET_TEXT if b in text], f"{notebook}: a widget did not render"
    if expected:
        rendered = panel.locator(".jp-OutputArea-output .jupyter-widgets, .jp-OutputArea-output .widget-box")
        assert rendered.count() > 0, f"{notebook}: {expected} widget outputs but no rendered widget view"
    return expected


def test_setup_notebook_runs_in_jupyterlab(lab, page, artifacts):
    assert (ROOT / "notebooks" / SETUP_NOTEBOOK).is_file(), f"notebooks/{SETUP_NOTEBOOK} is missing"
    _open(page, lab, SETUP_NOTEBOOK)
    page.screenshot(path=str(artifacts / "00_setup_opened.png"))
    notebook_json = _run_all(page, lab, SETUP_NOTEBOOK, artifacts)
    page.screenshot(path=str(artifacts / "00_setup_ran.png"), full_page=True)
    _assert_no_errors(page, notebook_json, SETUP_NOTEBOOK)
    _assert_widgets_render(page, notebook_json, SETUP_NOTEBOOK)
    printed = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "device:" in printed  # the seed cell's output reached the browser


def test_capstone_chat_box_answers(lab, page, artifacts):
    assert (ROOT / "notebooks" / CHAT_NOTEBOOK).is_file(), f"notebooks/{CHAT_NOTEBOOK} (the capstone) is missing"
    _open(page, lab, CHAT_NOTEBOOK)
    notebook_json = _run_all(page, lab, CHAT_NOTEBOOK, artifacts)
    page.screenshot(path=str(artifacts / "13_chatbot_ran.png"), full_page=True)
    _assert_no_errors(page, notebook_json, CHAT_NOTEBOOK)
    assert _assert_widgets_render(page, notebook_json, CHAT_NOTEBOOK) > 0, "the capstone shows no widget"

    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    box = panel.locator(".jupyter-widgets input[type='text'], .jupyter-widgets textarea").last
    box.scroll_into_view_if_needed()
    widgets = panel.locator(".jp-OutputArea-output .jupyter-widgets")
    before = "\n".join(widgets.all_inner_texts())
    question = "What is the capital of France?"
    box.fill(question)
    buttons = panel.locator(".jupyter-widgets button", has_text=re.compile("send|ask", re.IGNORECASE))
    if not buttons.count():
        buttons = panel.locator(".jupyter-widgets button")
    if buttons.count():
        buttons.last.click()
    else:
        box.press("Enter")
    deadline = time.monotonic() + 120
    while "\n".join(widgets.all_inner_texts()) == before:
        if time.monotonic() > deadline:
            page.screenshot(path=str(artifacts / "13_chatbot_no_answer.png"), full_page=True)
            pytest.fail("the chat box showed no answer within 120 s")
        time.sleep(1)
    time.sleep(2)  # let the answer finish rendering
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "13_chatbot_answer.png"), full_page=True)
    after = "\n".join(widgets.all_inner_texts())
    assert not ERROR_PATTERNS.search(after), f"the chat box shows an error: {after[-500:]}"
    assert question in after, "the chat history does not show the question that was sent"
