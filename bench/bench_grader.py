"""Throughput of ``grader autograde`` against ``nbgrader autograde`` on the same submissions.

    python bench/bench_grader.py [--count 20] [--lessons lesson1 lesson4 lesson6] [--kernels fork fresh]

For each lesson, builds COUNT submissions (complete, partial and blank, in turn), grades them with
nbgrader's own autograde (one at a time, as it works) in a throw-away nbgrader course, then with
``grader.pipeline.autograde`` (workers = core count; kernels forked from the warm template, and/or fresh),
in this one run; prints the times, the throughput ratio per lesson (target at least 4x on a 2-core
machine), whether every score is identical, where a notebook's time goes (kernel start, cells,
judging, feedback; the template's one-off start), the peak resident memory per worker (target
under 3 GiB) and a projection for 1,000 notebooks.

nbgrader gives a test cell its points when the cell does not raise; ``qK.grade()`` raises unless
the answer is correct under ``COURSE_GRADING=1``, so on honest submissions the two must agree.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.course_release import release  # noqa: E402
from grader.pipeline import autograde  # noqa: E402
from grader.course_release.release import SOURCE_DIR, dumps  # noqa: E402
from grader.course_release.samples import answered, solutions  # noqa: E402


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
    with release.interpreter_tools_on_path():  # nbgrader runs `alembic` from PATH
        assert api.generate_assignment(lesson, force=True, create=True)["success"]
    os.environ.update({"COURSE_GRADING": "1", "COURSE_MODEL": "course", "HF_HUB_OFFLINE": "1"})
    start = time.perf_counter()
    for student in subs:
        with release.interpreter_tools_on_path():
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


def grader_autograde(lesson: str, subs: dict[str, str], root: Path, workers: int,
                     kernel: str) -> tuple[float, dict, list[dict]]:
    for student, text in subs.items():
        path = root / "submissions" / student / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)
    start = time.perf_counter()
    report = autograde.autograde(root / "submissions", root / "out", workers=workers, progress=False,
                                 options={"kernel": kernel})
    seconds = time.perf_counter() - start
    timings = [json.loads(path.read_text())["result"].get("timing", {})
               for path in sorted((root / "out" / "results").glob(f"*/{lesson}.json"))]
    return seconds, {r["student_id"]: float(r["score"]) for r in report.table()}, timings


def breakdown(timings: list[dict]) -> str:
    """Mean seconds per notebook in each phase, and the template's one-off start per worker."""
    phases = ["kernel_start_s", "cells_s", "judge_s", "feedback_s"]
    means = {p: statistics.mean(t.get(p, 0.0) for t in timings) for p in phases}
    starts = [t["template_s"] for t in timings if t.get("template_s", 0) > 0.05]
    return ("per notebook: " + ", ".join(f"{p[:-2].replace('_', ' ')} {means[p]:.2f} s" for p in phases)
            + (f"; template start {statistics.mean(starts):.1f} s once per worker ({len(starts)}x)" if starts else ""))


def peak_memory(timings: list[dict]) -> int:
    """The largest worker + template + kernel resident peak of any notebook, in MiB (an upper
    bound: a forked kernel's pages shared with its template count twice)."""
    return max(sum(v or 0 for v in t.get("memory_mib", {}).values()) for t in timings)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--lessons", nargs="+", default=["lesson1", "lesson4", "lesson6"])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--kernels", nargs="+", default=["fork"], choices=["fork", "fresh"],
                        help="grader kernels to measure (fresh: a new interpreter per notebook)")
    args = parser.parse_args()
    print(f"{args.count} submissions per lesson (complete, partial, blank in turn), {os.cpu_count()} cores, "
          f"grader with {args.workers} workers")
    totals = {"nbgrader": [0.0, 0], **{k: [0.0, 0] for k in args.kernels}}
    worst_memory = 0
    for lesson in args.lessons:
        subs = submissions(lesson, args.count)
        with tempfile.TemporaryDirectory() as tmp:
            base_seconds, base_scores = nbgrader_autograde(lesson, subs, Path(tmp) / "nbgrader")
            totals["nbgrader"][0] += base_seconds
            totals["nbgrader"][1] += len(subs)
            print(f"\n{lesson}: nbgrader autograde (sequential) {base_seconds:7.1f} s")
            for kernel in args.kernels:
                seconds, scores, timings = grader_autograde(lesson, subs, Path(tmp) / f"grader-{kernel}",
                                                            args.workers, kernel)
                totals[kernel][0] += seconds
                totals[kernel][1] += len(subs)
                memory = peak_memory(timings)
                worst_memory = max(worst_memory, memory)
                print(f"{lesson}: grader --kernel {kernel:5}       {seconds:7.1f} s  ratio {base_seconds / seconds:5.2f}x "
                      f"(target >= 4x)  scores identical: {scores == base_scores}")
                print(f"  {breakdown(timings)}")
                print(f"  peak resident memory per worker (worker + template + kernel): {memory} MiB (target < 3072)")
                for student in subs:
                    if base_scores.get(student) != scores.get(student):
                        print(f"  {student}: nbgrader {base_scores.get(student)}  grader {scores.get(student)}")
    print("\nprojection for 1,000 notebooks of these lessons on this machine:")
    for name, (seconds, count) in totals.items():
        print(f"  {name:9} {seconds / count * 1000 / 60:6.1f} min")
    print(f"worst peak memory per worker: {worst_memory} MiB")


if __name__ == "__main__":
    main()
