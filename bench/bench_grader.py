"""Throughput of ``grader autograde`` against ``nbgrader autograde`` on the same submissions.

    python bench/bench_grader.py [--count 20] [--lesson lesson1]

Builds COUNT submissions of one lesson (complete, partial and blank, in turn), grades them with
nbgrader's own autograde (one at a time, as it works) in a throw-away nbgrader course, then with
``grader.autograde`` (workers = core count), in this one run; prints both times, the throughput
ratio (target at least 2x on a 2-core machine) and whether every score is identical.

nbgrader gives a test cell its points when the cell does not raise; ``qK.grade()`` raises unless
the answer is correct under ``COURSE_GRADING=1``, so on honest submissions the two must agree.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import autograde, release  # noqa: E402
from grader.release import SOURCE_DIR, dumps  # noqa: E402
from grader.samples import answered, solutions  # noqa: E402


def submissions(lesson: str, count: int) -> dict[str, str]:
    nb = release.generate([lesson])[lesson]
    answers = sorted(solutions(lesson))
    kinds = [answered(nb, lesson), answered(nb, lesson, which=answers[: len(answers) // 2]), nb]
    return {f"student{i:02d}": dumps(kinds[i % len(kinds)]) for i in range(count)}


def nbgrader_autograde(lesson: str, subs: dict[str, str], root: Path) -> tuple[float, dict]:
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    shutil.copytree(SOURCE_DIR / lesson, root / "source" / lesson)
    for student, text in subs.items():
        path = root / "submitted" / student / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)
    config = Config()
    config.CourseDirectory.root = str(root)
    config.Exchange.assignment_dir = str(root)
    config.ClearSolutions.code_stub = {"python": release.CODE_STUB}
    config.ExecutePreprocessor.timeout = 300
    api = NbGraderAPI(config=config)
    assert api.generate_assignment(lesson, force=True, create=True)["success"]
    os.environ.update({"COURSE_GRADING": "1", "COURSE_MODEL": "course", "HF_HUB_OFFLINE": "1"})
    start = time.perf_counter()
    for student in subs:
        result = api.autograde(lesson, student, force=True, create=True)
        if not result["success"]:
            print(f"nbgrader failed on {student}:\n{result.get('error') or result.get('log')}")
    seconds = time.perf_counter() - start
    os.environ.pop("COURSE_GRADING")
    scores = {}
    with api.gradebook as gradebook:
        for student in subs:
            submission = gradebook.find_submission(lesson, student)
            scores[student] = float(submission.score)
    return seconds, scores


def grader_autograde(lesson: str, subs: dict[str, str], root: Path, workers: int) -> tuple[float, dict]:
    for student, text in subs.items():
        path = root / "submissions" / student / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)
    start = time.perf_counter()
    report = autograde.autograde(root / "submissions", root / "out", workers=workers, progress=False)
    seconds = time.perf_counter() - start
    return seconds, {r["student_id"]: float(r["score"]) for r in report.rows}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--lesson", default="lesson1")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    subs = submissions(args.lesson, args.count)
    with tempfile.TemporaryDirectory() as tmp:
        base_seconds, base_scores = nbgrader_autograde(args.lesson, subs, Path(tmp) / "nbgrader")
        ours_seconds, our_scores = grader_autograde(args.lesson, subs, Path(tmp) / "grader", args.workers)
    n = len(subs)
    print(f"{n} submissions of {args.lesson}, {os.cpu_count()} cores")
    print(f"nbgrader autograde (sequential): {base_seconds:7.1f} s  {n / base_seconds * 60:6.1f} notebooks/min")
    print(f"grader autograde ({args.workers} workers):   {ours_seconds:7.1f} s  {n / ours_seconds * 60:6.1f} notebooks/min")
    print(f"throughput ratio: {base_seconds / ours_seconds:.2f}x  (target >= 2x)")
    same = base_scores == our_scores
    print(f"scores identical: {same}")
    if not same:
        for student in subs:
            if base_scores.get(student) != our_scores.get(student):
                print(f"  {student}: nbgrader {base_scores.get(student)}  grader {our_scores.get(student)}")


if __name__ == "__main__":
    main()
