"""The project's own promises: the two commands exist, pins agree, CI calls the README's test command."""

from __future__ import annotations

import re

from utils import ROOT


def test_readme_names_the_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make lab" in readme and "make test" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_torch_is_pinned_to_the_cpu_build():
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in pins


def test_environment_yml_uses_the_same_pins():
    env = (ROOT / "environment.yml").read_text()
    assert "-r requirements.txt" in env and "python=3.11" in env


def test_top_level_layout():
    for name in ("README.md", "notebooks", "labs", "solutions", "data", "utils", "environment.yml", "tests",
                 "requirements.txt", "pyproject.toml", "Makefile", "nbgrader_config.py", "scripts", ".ci/run"):
        assert (ROOT / name).exists(), name
