"""JupyterHub for one class (docs/instructors.md, route D): the settings its pieces share and the one-off setup.

Students and instructors are accounts of this machine: nbgrader's exchange files a submission under the
operating-system user who submits it, so every person needs their own account (JupyterHub's
`LocalProcessSpawner` starts each person's server as them). Two groups say who is who: members of the students'
group get nbgrader's student pieces (workshop/jupyter/student/), members of the instructors' group the
instructor's (workshop/jupyter/instructor/) and are the hub's admins. Everyone's server runs this checkout's
`.venv`, so the course checkout must be readable by all, except what students must not see (`setup` locks it).

    sudo .venv/bin/python -m workshop.hub setup                       # groups, exchange, state folder, permissions
    sudo .venv/bin/python -m workshop.hub add-instructor carol        # an account in the instructors' group
    sudo .venv/bin/python -m workshop.hub add-students alice bob      # accounts in the students' group
    sudo .venv/bin/jupyterhub -f workshop/jupyterhub/jupyterhub_config.py
    .venv/bin/python -m workshop.hub release-feedback --lab lab04_attention   # after make grade, as the instructor

Every path and group name has a default (below) that an environment variable of the same name overrides, for the
hub and for this command alike: COURSE_HUB_EXCHANGE, COURSE_HUB_STATE, COURSE_HUB_STUDENTS,
COURSE_HUB_INSTRUCTORS, COURSE_HUB_COURSE. tests/test_jupyterhub.py runs the whole cycle through a real hub.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from utils import ROOT

HERE = ROOT / "workshop" / "jupyterhub"
VENV_BIN = ROOT / ".venv" / "bin"
ROOMS = ROOT / "workshop" / "jupyter"
# What every account may read in the course checkout: what a server, a kernel and a lesson need (the venv, the
# course package and its data, the lessons and released labs, the rooms and this hub's nbgrader config).
# Everything else (solutions/ with the hidden tests, grading/, tests/ with their answers, .git with the history of
# all of them, the gradebook, collected submissions, grades) is closed to other accounts by `setup`.
PUBLIC = (".venv", "utils", "data", "notebooks", "labs", "chatbot", "labcheck", "workshop", "vendor", "build",
          "README.md", "LICENSE", "LICENSES", "CITATION.cff", "requirements.txt", "pyproject.toml")


@dataclass(frozen=True)
class Settings:
    exchange: Path          # nbgrader's exchange: releases go out and submissions come in here (mode 777)
    state: Path             # the hub's database, cookie secret and proxy pid (root only)
    students: str           # group of the students' accounts
    instructors: str        # group of the instructors' accounts (hub admins, Formgrader)
    course: Path            # the instructors' course folder (their servers open there): this checkout by default

    def as_env(self) -> dict[str, str]:
        """These settings as the environment variables `settings` reads (the hub passes them to every server)."""
        return {"COURSE_HUB_EXCHANGE": str(self.exchange), "COURSE_HUB_STATE": str(self.state),
                "COURSE_HUB_STUDENTS": self.students, "COURSE_HUB_INSTRUCTORS": self.instructors,
                "COURSE_HUB_COURSE": str(self.course)}


DEFAULTS = {"COURSE_HUB_EXCHANGE": "/srv/nbgrader/exchange", "COURSE_HUB_STATE": "/srv/jupyterhub",
            "COURSE_HUB_STUDENTS": "course-students", "COURSE_HUB_INSTRUCTORS": "course-instructors",
            "COURSE_HUB_COURSE": str(ROOT)}


def settings(env: Mapping[str, str] = os.environ) -> Settings:
    """The hub's settings: DEFAULTS, each overridden by the environment variable of its name."""
    get = {key: env.get(key) or default for key, default in DEFAULTS.items()}
    return Settings(exchange=Path(get["COURSE_HUB_EXCHANGE"]), state=Path(get["COURSE_HUB_STATE"]),
                    students=get["COURSE_HUB_STUDENTS"], instructors=get["COURSE_HUB_INSTRUCTORS"],
                    course=Path(get["COURSE_HUB_COURSE"]))


def in_group(username: str, group: str) -> bool:
    """Whether the account `username` belongs to `group` (as its primary group or as a member)."""
    try:
        entry = grp.getgrnam(group)
        return username in entry.gr_mem or pwd.getpwnam(username).pw_gid == entry.gr_gid
    except KeyError:
        return False


def is_instructor(username: str, s: Settings) -> bool:
    return in_group(username, s.instructors)


def user_environment(username: str, s: Settings) -> dict[str, str]:
    """The environment of `username`'s server (and of every terminal and kernel it starts).

    JUPYTER_CONFIG_PATH puts the person's room first (which nbgrader pieces they see), then this folder, whose
    nbgrader_config.py names the course and the exchange for the servers and for nbgrader run in a terminal; the
    hub's settings go along (the server's own command, `singleuser`, reads them)."""
    room = ROOMS / ("instructor" if is_instructor(username, s) else "student")
    return {"JUPYTER_CONFIG_PATH": os.pathsep.join([str(room), str(HERE)]), **s.as_env(),
            "PATH": os.pathsep.join([str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def notebook_dir(username: str, s: Settings) -> str:
    """Where `username`'s server opens: an instructor in the course folder (Formgrader reads its
    nbgrader_config.py there, `nbgrader collect` fills its submitted/), a student at home."""
    return str(s.course) if is_instructor(username, s) else pwd.getpwnam(username).pw_dir


def copy_lessons(home: Path) -> Path | None:
    """Give a student their own copy of the lessons (~/notebooks) the first time their server starts.

    Runs as the student (the server's command, `singleuser` below), so it can only write what they may."""
    dest = home / "notebooks"
    if dest.exists() or dest.is_symlink():
        return None
    shutil.copytree(ROOT / "notebooks", dest, ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    return dest


# What an instructor's server, its terminals and the nbgrader and grading runs there create (submitted/, the
# gradebook, grades, feedback) is closed to other accounts: setup can only close what exists when it runs.
INSTRUCTOR_UMASK = 0o027


def singleuser(args: list[str]) -> None:
    """Every user's server: copy the lessons home (students, once), then become jupyterhub-singleuser."""
    if is_instructor(pwd.getpwuid(os.getuid()).pw_name, settings()):
        os.umask(INSTRUCTOR_UMASK)
    else:
        copy_lessons(Path.home())
    command = str(VENV_BIN / "jupyterhub-singleuser")
    os.execv(command, [command, *args])


def _run(command: list[str]) -> None:
    print("+", " ".join(command))
    subprocess.run(command, check=True)


def ensure_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        _run(["groupadd", name])


def lock_course(course: Path) -> list[Path]:
    """Close every top-level entry of the course checkout that is not PUBLIC to other accounts (o-rwx)."""
    closed = []
    for entry in sorted(course.iterdir()):
        if entry.name in PUBLIC or entry.is_symlink():
            continue
        mode = entry.stat().st_mode
        if mode & stat.S_IRWXO:
            os.chmod(entry, mode & ~stat.S_IRWXO)
            closed.append(entry)
    return closed


def unreachable(path: Path) -> list[Path]:
    """The folders on the way to `path` (itself included) that other accounts cannot enter (no o+x)."""
    return [p for p in [*reversed(path.parents), path] if p.is_dir() and not p.stat().st_mode & stat.S_IXOTH]


def setup(s: Settings, lock: bool = True) -> None:
    """Once per machine, as root: the two groups, the exchange (everyone writes, mode 777 as nbgrader documents;
    nbgrader itself makes each course's inbound folder write-only for students), the hub's own state folder
    (root only), and the course checkout closed to students except PUBLIC."""
    ensure_group(s.students)
    ensure_group(s.instructors)
    s.exchange.mkdir(parents=True, exist_ok=True)
    os.chmod(s.exchange, 0o777)
    print(f"exchange {s.exchange}: mode 777")
    s.state.mkdir(parents=True, exist_ok=True)
    os.chmod(s.state, 0o700)
    print(f"hub state {s.state}: mode 700")
    # the checkout every server runs, and the instructors' course folder when it is another one
    for course in dict.fromkeys([ROOT, s.course] if lock else []):
        for entry in lock_course(course):
            print(f"closed to other accounts: {entry}")
    python = Path(os.path.realpath(VENV_BIN / "python"))  # a venv's python links to the Python it was made with
    blocked = sorted({p for target in (VENV_BIN, python) for p in unreachable(target)})
    if blocked:
        print(f"WARNING: other accounts cannot enter {', '.join(map(str, blocked))}, so no server will start: "
              f"every server runs {VENV_BIN / 'python'} (= {python}). Make the course's .venv with a Python every "
              "account can run (`sudo apt-get install python3.11-venv`, then `make setup PYTHON=/usr/bin/python3.11`"
              " in a fresh checkout) and keep the checkout where all can enter (/srv)", file=sys.stderr)


def add_users(names: list[str], group: str, home_base: Path | None = None) -> None:
    """Create accounts in `group` with a home folder only they can enter (existing accounts: only added to it)."""
    for name in names:
        try:
            pwd.getpwnam(name)
            _run(["usermod", "--append", "--groups", group, name])
        except KeyError:
            base = ["--base-dir", str(home_base)] if home_base else []
            _run(["useradd", "--create-home", *base, "--shell", "/bin/bash", "--groups", group, name])
            # Debian's useradd leaves homes readable by all (umask 022): a student could copy another's answers
            os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    print(f"set each password with `sudo passwd <name>` (the hub checks it with PAM): {' '.join(names)}")


def stage_feedback(lab: str, course: Path, graded: Path) -> list[str]:
    """Put `make grade`'s feedback where `nbgrader release_feedback` takes it, for each student it graded.

    nbgrader's exchange returns a notebook's feedback under a hash of the notebook's name and the secret of the
    submission it grades, and needs the submission's timestamp: both come from `submitted/<student>/<lab>/`, where
    `nbgrader collect` put them. Copies graded/feedback/<student>/<lab>/*.html (not grading_notes.html, which the
    exchange has no notebook to match with) into course/feedback/<student>/<lab>/ with those two files."""
    staged = []
    for graded_dir in sorted((graded / "feedback").glob(f"*/{lab}")):
        student = graded_dir.parent.name
        submission = course / "submitted" / student / lab
        if not (submission / "submission_secret.txt").is_file():
            print(f"{student}: not collected from the exchange ({submission} has no submission_secret.txt): skipped")
            continue
        dest = course / "feedback" / student / lab
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("timestamp.txt", "submission_secret.txt"):
            shutil.copy(submission / name, dest / name)
        for html in sorted(graded_dir.glob("*.html")):
            if html.name != "grading_notes.html":
                shutil.copy(html, dest / html.name)
                # release_feedback copies the mode into the exchange, where the student reads it by its hashed
                # name (the folder lists nothing): readable by all, as nbgrader's own feedback is
                os.chmod(dest / html.name, 0o644)
        staged.append(student)
    return staged


def release_feedback(lab: str, course: Path, graded: Path) -> int:
    """Stage `make grade`'s feedback of `lab`, then `nbgrader release_feedback`: students fetch it in their
    Assignments tab. Run it in the course folder, as the instructor (the terminal of their hub server)."""
    staged = stage_feedback(lab, course, graded)
    print(f"feedback of {lab} for {len(staged)} students: {' '.join(staged)}")
    return subprocess.run([str(VENV_BIN / "nbgrader"), "release_feedback", lab], cwd=course).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.hub", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("setup", help="groups, exchange folder, hub state folder, course permissions (as root)")
    p.add_argument("--keep-permissions", action="store_true",
                   help="leave the course checkout readable as it is (tests; a machine without students)")
    for command, what in (("add-students", "students"), ("add-instructor", "instructors")):
        p = sub.add_parser(command, help=f"create accounts in the {what}' group (as root)")
        p.add_argument("names", nargs="+")
        p.add_argument("--home-base", type=Path, help="where their home folders go (useradd's default: /home)")
    p = sub.add_parser("release-feedback", help="make grade's feedback of a lab back to students through the "
                       "exchange (as the instructor, in the course folder)")
    p.add_argument("--lab", required=True)
    p.add_argument("--grading", type=Path, default=Path("grading"), help="make grade's --out (default: grading)")
    sub.add_parser("singleuser", help="a user's server: the hub's Spawner.cmd, with jupyterhub-singleuser's arguments")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["singleuser"]:
        singleuser(argv[1:])  # does not return
    args = parser.parse_args(argv)
    s = settings()
    if args.command == "release-feedback":
        return release_feedback(args.lab, Path.cwd(), args.grading.resolve())
    if os.geteuid() != 0:
        print("run this as root (sudo): it creates groups, accounts and folders", file=sys.stderr)
        return 1
    if args.command == "setup":
        setup(s, lock=not args.keep_permissions)
    else:
        add_users(args.names, s.students if args.command == "add-students" else s.instructors, args.home_base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
