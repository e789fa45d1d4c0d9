"""nbgrader course configuration: labs are authored in solutions/ and released to labs/ (`make release`)."""

import os
import sys
from pathlib import Path

# nbgrader runs `alembic` from PATH when it opens a gradebook; `make` calls .venv/bin/nbgrader without activating
# the venv, so put this interpreter's bin/ first.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

c = get_config()  # noqa: F821  (injected by nbgrader/traitlets)

c.CourseDirectory.course_id = "lora-first-principles"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
# Never released: the plausible-but-wrong answers (wrong_answers.py, which prove the hidden tests bite in
# tests/test_labs.py) and the jupytext .py pair of each lab source (it holds the solutions and hidden tests).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]

# Per-cell wall-clock limit while autograding. (c.ExecutePreprocessor.timeout is ignored by nbgrader 0.9.)
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
