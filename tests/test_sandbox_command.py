"""The bubblewrap command line of grading.sandbox: mount order matters (no kernel starts in a wrong one)."""

from __future__ import annotations

from pathlib import Path

from grading.sandbox import wrap_command


def test_tmp_is_mounted_before_the_binds_so_a_checkout_under_tmp_stays_visible(tmp_path: Path):
    # A repository under /tmp (a CI checkout, a quick clone) is bound into the sandbox's /tmp; a tmpfs mounted after
    # the binds hid the virtualenv and every kernel died before it could start.
    argv = wrap_command(["python"], tmp_path, {"HOME": str(tmp_path)}, None, 10, None, sandbox=True)
    tmpfs = argv.index("--tmpfs")
    assert argv[tmpfs + 1] == "/tmp"
    binds = [i for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")]
    assert binds and all(i > tmpfs for i in binds), argv
    assert argv.index("--remount-ro") > max(binds)
