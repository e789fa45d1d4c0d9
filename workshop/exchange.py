"""`nbgrader collect` for a class whose students share one exchange (route D): it takes from the inbound folder only
what each student handed in themselves, and never follows a link there.

Every student may create folders in nbgrader's inbound folder (it is write-only for them). nbgrader's own collect
trusts the names of those folders: a folder `alice+lab04_attention+<time>+x` made by bob only earns a warning
("cheating attempt?") and, being the latest, replaces alice's submission. And it copies with the instructor's
rights, following links: a link bob plants there brings in any file the instructor can read, the lab's solutions
included. `OwnersOnlyCollect` collects a folder only when its owner is the student it names (the others are listed
and skipped), and copies links as links, which `make grade` reports and never follows.
`jupyterhub/nbgrader_config.py` makes it the exchange's collect (`c.ExchangeFactory.collect`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
from collections import defaultdict

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import ignore_patterns


def owner(path: str) -> str:
    """The account that owns `path` itself (a link is not followed); its uid where no account has it."""
    uid = os.lstat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class OwnersOnlyCollect(ExchangeCollect):
    """nbgrader's collect, taking each student's latest submission among the folders that student owns."""

    def init_src(self) -> None:
        super().init_src()  # checks the course and its inbound folder, reads the due date
        pattern = os.path.join(self.inbound_path, f"{self.coursedir.student_id or '*'}+{self.coursedir.assignment_id}+*")
        by_student = defaultdict(list)
        for path in sorted(glob.glob(pattern)):
            record = self._path_to_record(path)
            made_by = owner(path)
            if os.path.islink(path) or made_by != record["username"]:
                self.log.warning("not collected: %s is named for %s but was made by %s", path, record["username"],
                                 made_by)
                continue
            by_student[record["username"]].append(record)
        self.src_records = []
        for records in by_student.values():
            newest_first = self._sort_by_timestamp(records)
            if self.duedate is not None and self.before_duedate:  # nbgrader's rule: the latest on time, if any
                newest_first = [r for r in newest_first if r["timestamp"] <= self.duedate] or newest_first
            self.src_records.append(newest_first[0])

    def do_copy(self, src: str, dest: str, log=None) -> None:
        """nbgrader's copy (size limit, include and exclude globs), with links copied as links."""
        if self.get_size(src) > 1000 * self.coursedir.max_dir_size:
            raise RuntimeError(f"{src} is larger than CourseDirectory.max_dir_size ({self.coursedir.max_dir_size} kB)")
        shutil.copytree(src, dest, symlinks=True,
                        ignore=ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                               max_file_size=self.coursedir.max_file_size, log=self.log))
