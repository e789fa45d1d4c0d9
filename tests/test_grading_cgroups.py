"""The grader's cgroup limits (grading.sandbox.TreeLimits) on cgroup v2 and v1, against fake cgroup trees in
tmp_path: which directory is chosen, what is written there, how the tree is killed and an OOM is seen, and what is
said when no cgroup can be made. (The real v1 or v2 hierarchy of this machine is used by test_grading_attacks.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grading import sandbox
from grading.sandbox import TreeLimits, limits_note, v2_base

OWN = "user.slice/user-1000.slice/user@1000.service/app.slice/grader.scope"


def v2_tree(tmp_path: Path, delegated: str = "memory pids", offered: str = "cpu memory pids") -> tuple[Path, Path]:
    """A fake unified hierarchy: this process in OWN; its parent app.slice delegates `delegated` to children."""
    root = tmp_path / "cgroup"
    own = root / OWN
    own.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    for d in [own, *[a for a in own.parents if root in a.parents]]:
        (d / "cgroup.controllers").write_text(offered + "\n")
        (d / "cgroup.subtree_control").write_text("\n")
    (own.parent / "cgroup.subtree_control").write_text(delegated + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::/{OWN}\n")
    return root, proc


def test_v2_uses_a_child_of_the_delegated_parent_with_memory_and_pids_limits(tmp_path):
    root, proc = v2_tree(tmp_path)
    limits = TreeLimits("course-grading-1-alice", 1.5, pids=64, root=root, proc_cgroup=proc)
    group = root / OWN.rsplit("/", 1)[0] / "course-grading-1-alice"  # a sibling of our own cgroup, not a child
    assert limits.available and limits.version == 2 and limits.dirs == [group]
    assert (group / "memory.max").read_text() == str(int(1.5 * 2**30))
    assert (group / "memory.swap.max").read_text() == "0"
    assert (group / "pids.max").read_text() == "64"
    assert limits.join_command() == f"echo $$ > {group / 'cgroup.procs'} && "
    assert "cgroup v2" in limits_note(limits) and "memory.max" in limits_note(limits)


def test_v2_oom_is_read_from_memory_events_and_the_tree_is_killed_through_cgroup_kill(tmp_path, monkeypatch):
    root, proc = v2_tree(tmp_path)
    limits = TreeLimits("course-grading-1-bob", 1.0, root=root, proc_cgroup=proc)
    group = limits.dirs[0]
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
    assert not limits.out_of_memory()
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert limits.out_of_memory()
    (group / "cgroup.kill").write_text("0")
    (group / "cgroup.procs").write_text("")
    limits.kill_all()
    assert (group / "cgroup.kill").read_text() == "1"


def test_v2_enables_the_controllers_when_the_parent_offers_them(tmp_path):
    root, proc = v2_tree(tmp_path, delegated="")  # offered by cgroup.controllers, not yet handed to children
    limits = TreeLimits("course-grading-1-carol", 1.0, root=root, proc_cgroup=proc)
    assert limits.version == 2
    assert (root / OWN).parent.joinpath("cgroup.subtree_control").read_text() == "+memory +pids"


def test_v2_without_a_writable_delegated_subtree_falls_back_and_says_what_limits(tmp_path, monkeypatch):
    root, proc = v2_tree(tmp_path, delegated="", offered="cpu")  # memory and pids are not ours to hand out
    limits = TreeLimits("course-grading-1-dave", 1.0, root=root, proc_cgroup=proc)
    assert not limits.available and limits.version is None
    note = limits_note(limits)
    assert "no cgroup" in note and "RLIMIT_AS" in note and "RLIMIT_CPU" in note
    wrapped = sandbox.wrap_command(["python"], tmp_path, {}, limits, 60, 1.0, sandbox=False)
    assert "ulimit -v" in wrapped[2]  # the per-process fallback is what applies


def test_v2_base_named_by_the_environment(tmp_path, monkeypatch):
    root, proc = v2_tree(tmp_path, delegated="", offered="cpu")
    mine = root / "grading.slice"
    mine.mkdir()
    (mine / "cgroup.controllers").write_text("memory pids\n")
    (mine / "cgroup.subtree_control").write_text("memory pids\n")
    monkeypatch.setenv("COURSE_GRADING_CGROUP", str(mine))
    assert v2_base(root, proc) == mine


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_v2_never_picks_a_directory_this_user_cannot_write(tmp_path):
    root, proc = v2_tree(tmp_path)
    parent = (root / OWN).parent
    parent.chmod(0o555)
    try:
        assert v2_base(root, proc) != parent
    finally:
        parent.chmod(0o755)


def test_v1_hierarchies(tmp_path):
    root = tmp_path / "cgroup"
    for controller in ("memory", "pids"):
        (root / controller).mkdir(parents=True)
    (root / "memory" / "memory.memsw.limit_in_bytes").write_text("")
    limits = TreeLimits("course-grading-1-erin", 2.0, pids=32, root=root, proc_cgroup=tmp_path / "none")
    assert limits.version == 1
    assert limits.dirs == [root / "memory" / "course-grading-1-erin", root / "pids" / "course-grading-1-erin"]
    assert (limits.dirs[0] / "memory.limit_in_bytes").read_text() == str(2 * 2**30)
    assert (limits.dirs[0] / "memory.memsw.limit_in_bytes").read_text() == str(2 * 2**30)
    assert (limits.dirs[1] / "pids.max").read_text() == "32"
    (limits.dirs[0] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (limits.dirs[0] / "memory.failcnt").write_text("0")
    assert limits.out_of_memory()
    assert "cgroup v1" in limits_note(limits)


def test_neither_version(tmp_path):
    limits = TreeLimits("course-grading-1-frank", 1.0, root=tmp_path / "empty", proc_cgroup=tmp_path / "none")
    assert not limits.available and "no cgroup" in limits_note(limits)
