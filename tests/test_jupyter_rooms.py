"""The clean room (issue 20 item 4): `make lab` gives students nbgrader's assignment list and Validate only;
`make lab-instructor` adds the Formgrader, the course list and Create Assignment (workshop/jupyter/README.md).

Each command's configuration is read the way Jupyter Server and JupyterLab read it (ServerApp's config files and
extension discovery, jupyterlab_server's page config), in a fresh process whose own Jupyter user directory is
empty, so what a developer enabled in ~/.jupyter cannot make this pass or fail."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from utils import ROOT

VENV = Path(sys.prefix)  # where pip put nbgrader and its Jupyter files
SERVER = "nbgrader.server_extensions."
STUDENT_SERVER = {"assignment_list", "validate_assignment"}
INSTRUCTOR_ONLY_SERVER = {"formgrader", "course_list"}
LAB = "@jupyter/nbgrader:"
STUDENT_LAB = {"assignment-list", "validate-assignment", "menu"}
INSTRUCTOR_ONLY_LAB = {"formgrader", "course-list", "create-assignment"}

PROBE = """
import json
from jupyter_core.paths import jupyter_path
from jupyter_server.serverapp import ServerApp
from jupyterlab_server.config import get_page_config

app = ServerApp()
app.load_config_file()        # the config files, JUPYTER_CONFIG_PATH first
app.find_server_extensions()  # then every jupyter_server_config.d, as `jupyter lab` does at start
page = get_page_config(jupyter_path("labextensions"), None)
print(json.dumps({"server": app.jpserver_extensions, "disabled": page["disabledExtensions"]}))
"""


def command_environment(target: str) -> dict[str, str]:
    """The VAR=value assignments in front of `jupyter lab` in `make -n <target>` (what the command runs)."""
    out = subprocess.run(["make", "-n", "-s", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if "/jupyter lab" in line)
    return dict(re.findall(r"(?:^|\s)([A-Z_]+)=(\S+)", line.split("/jupyter lab")[0]))


def room(target: str, tmp_path) -> tuple[dict[str, bool], set[str]]:
    """(nbgrader server extension -> enabled, disabled nbgrader lab plugins) under `make <target>`'s settings."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "user"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), **command_environment(target)}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout
    found = json.loads(out.splitlines()[-1])
    server = {name.removeprefix(SERVER): on for name, on in found["server"].items() if name.startswith(SERVER)}
    disabled = {name.removeprefix(LAB) for name in found["disabled"] if name.startswith(LAB)}
    return server, disabled


def test_make_lab_is_the_student_room(tmp_path):
    assert command_environment("lab") == {"JUPYTER_CONFIG_PATH": str(ROOT / "workshop/jupyter/student")}
    server, disabled = room("lab", tmp_path)
    assert server == {**dict.fromkeys(STUDENT_SERVER, True), **dict.fromkeys(INSTRUCTOR_ONLY_SERVER, False)}
    assert disabled == INSTRUCTOR_ONLY_LAB


def test_make_lab_instructor_has_every_nbgrader_piece(tmp_path):
    assert command_environment("lab-instructor") == {
        "JUPYTER_CONFIG_PATH": str(ROOT / "workshop/jupyter/instructor")}
    server, disabled = room("lab-instructor", tmp_path)
    assert server == dict.fromkeys(STUDENT_SERVER | INSTRUCTOR_ONLY_SERVER, True)
    assert disabled == set()


def test_the_rooms_name_what_nbgrader_installs():
    """A renamed extension or plugin in a newer nbgrader would leave a room switching nothing: fail instead."""
    installed = json.loads((VENV / "etc/jupyter/jupyter_server_config.d/nbgrader.json").read_text())
    assert {name.removeprefix(SERVER) for name in installed["ServerApp"]["jpserver_extensions"]} == (
        STUDENT_SERVER | INSTRUCTOR_ONLY_SERVER)
    bundle = "".join(p.read_text(encoding="utf-8", errors="replace") for p in
                     (VENV / "share/jupyter/labextensions/@jupyter/nbgrader/static").glob("*.js"))
    assert set(re.findall(r'"@jupyter/nbgrader:([a-z-]+)"', bundle)) == STUDENT_LAB | INSTRUCTOR_ONLY_LAB


def test_the_student_room_locks_what_it_disables():
    page = json.loads((ROOT / "workshop/jupyter/student/labconfig/page_config.json").read_text())
    assert {k for k, on in page["lockedExtensions"].items() if on} == {LAB + p for p in INSTRUCTOR_ONLY_LAB}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(url: str) -> int | None:
    """HTTP status of a GET, redirects not followed; None while nothing listens."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        return urllib.request.build_opener(NoRedirect).open(url, timeout=10).status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@pytest.mark.slow
@pytest.mark.parametrize(("target", "formgrader", "disabled"), [
    ("lab", 404, {LAB + p for p in INSTRUCTOR_ONLY_LAB}), ("lab-instructor", 302, set())])
def test_a_running_jupyterlab_serves_what_its_room_allows(target, formgrader, disabled, tmp_path):
    """The real server: /formgrader exists only for instructors; the lab page disables what the room says."""
    port, token = _free_port(), "room-test"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "user"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), **command_environment(target)}
    server = subprocess.Popen([str(Path(sys.executable).parent / "jupyter"), "lab", "--allow-root", "--no-browser",
                               f"--port={port}", f"--IdentityProvider.token={token}"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while _status(f"{base}/api?token={token}") != 200:
            assert time.monotonic() < deadline and server.poll() is None, "JupyterLab did not start"
            time.sleep(0.5)
        assert _status(f"{base}/formgrader?token={token}") == formgrader
        assert _status(f"{base}/assignments?token={token}") not in (None, 404)  # the students' list is served
        page = urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10).read().decode()
        assert set(json.loads(re.search(r'"disabledExtensions": (\[[^]]*\])', page).group(1))) == disabled
    finally:
        server.terminate()
        server.wait(timeout=30)
