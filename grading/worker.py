"""nbgrader's generate_assignment in its own process (its imports and logging stay out of the grader):

    python -m grading.worker release COURSE_DIR LAB [LAB ...]

One process releases every lab it is given: nbgrader's imports and its gradebook cost about 12 s once, each further
lab about 2 s. Only our own lab sources are processed here; student code never runs in this process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def release(course_dir: Path, labs: list[str]) -> None:
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    config.CourseDirectory.root = str(course_dir)
    config.CourseDirectory.db_url = f"sqlite:///{course_dir / 'gradebook.db'}"
    api = NbGraderAPI(config=config)
    for lab in labs:
        result = api.generate_assignment(lab, force=True, create=True)
        if not result["success"]:
            sys.exit(f"generate_assignment failed for {lab}:\n{result['error']}\n{result['log']}")


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] != "release":
        sys.exit(__doc__)
    course_dir = Path(argv[1]).resolve()
    os.chdir(course_dir)
    release(course_dir, argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
