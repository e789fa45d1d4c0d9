"""Grade candidate answers to a lab with the real harness, before they join wrong_answers.py or honest_answers/.

    .venv/bin/python scripts/try_answers.py lab04_attention /tmp/my_answers.py

The file has the format of `solutions/<lab>/wrong_answers.py` (`# %% [<grade_id>] <name>` before each replacing
cell). Each answer is graded as a student's notebook would be (same release, sandbox and kernels as the lab's proof);
the output says, per answer, its score and the test cells it lost points on. A wrong answer with full marks is a
test that needs a case; a correct answer that loses points is a test that penalises honest code.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grading import check_lab  # noqa: E402
from grading.labsource import parse_wrong_answers  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    lab, path = argv[0], Path(argv[1])
    answers = parse_wrong_answers(path.read_text(encoding="utf-8"))
    check = check_lab(lab, honest=answers)
    solution = check.results["solution"]
    print(f"solution: {solution.score:g}/{solution.max_score:g} ({solution.status})")
    for student, name in check.honest_names.items():
        result = check.results[student]
        lost = {check.lab.column(key): f"{result.cells.get(key, 0.0):g}/{points:g}"
                for key, points in check.lab.points.items() if result.cells.get(key, 0.0) < points}
        verdict = "full marks" if result.score == result.max_score else "loses points"
        print(f"{verdict:12s} {result.score:g}/{result.max_score:g} {result.status:9s} {name}  {lost or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
