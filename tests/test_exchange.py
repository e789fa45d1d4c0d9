"""`workshop.exchange.OwnersOnlyCollect`, the collect of route D's shared exchange: a folder in the inbound folder
counts only for the student who made it, and a link planted there is copied as a link, never followed.
(tests/test_jupyterhub.py does the same with real accounts on a running hub.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from nbgrader.coursedir import CourseDirectory

from workshop.exchange import OwnersOnlyCollect, owner

LAB = "lab04_attention"
NOBODY = 65534  # an account that is not the student's


def _collect(tmp_path) -> OwnersOnlyCollect:
    coursedir = CourseDirectory(root=str(tmp_path / "course"), course_id="course", assignment_id=LAB,
                                db_url=f"sqlite:///{tmp_path / 'gradebook.db'}")
    (tmp_path / "course").mkdir(exist_ok=True)
    return OwnersOnlyCollect(coursedir=coursedir, root=str(tmp_path / "exchange"))


def _hand_in(tmp_path, student: str, timestamp: str, text: str) -> str:
    folder = tmp_path / "exchange" / "course" / "inbound" / f"{student}+{LAB}+{timestamp}+x{len(text)}"
    folder.mkdir(parents=True)
    (folder / f"{LAB}.ipynb").write_text(text)
    return str(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder another account owns needs root")
def test_a_folder_named_for_a_student_counts_only_when_that_student_made_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # the gradebook's alembic
    me = owner(str(tmp_path))
    mine = _hand_in(tmp_path, me, "2026-12-01 09:00:00.000000 UTC", "my answer")
    planted = _hand_in(tmp_path, me, "2099-01-01 09:00:00.000000 UTC", "planted later, by another account")
    os.chown(planted, NOBODY, NOBODY)
    collect = _collect(tmp_path)
    collect.init_src()
    assert [r["filename"] for r in collect.src_records] == [os.path.basename(mine)]


def test_a_link_handed_in_is_copied_as_a_link(tmp_path):
    """Followed with the instructor's rights, a link would bring in any file the instructor can read."""
    solutions = tmp_path / "solutions.ipynb"
    solutions.write_text("the lab's solutions")
    folder = tmp_path / "exchange" / "course" / "inbound" / f"bob+{LAB}+2026-12-01 09:00:00.000000 UTC+x"
    folder.mkdir(parents=True)
    (folder / f"{LAB}.ipynb").symlink_to(solutions)
    (folder / "notes.txt").write_text("my notes")
    dest = tmp_path / "course" / "submitted" / "bob" / LAB
    _collect(tmp_path).do_copy(str(folder), str(dest))
    assert (dest / f"{LAB}.ipynb").is_symlink() and (dest / "notes.txt").read_text() == "my notes"
