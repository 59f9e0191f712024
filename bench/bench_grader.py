"""Throughput of ``grader autograde`` against ``nbgrader autograde`` on the same submissions.

    python bench/bench_grader.py [--count 20] [--lessons lesson1 lesson2 lesson3 lesson5]
                                 [--kernels fork fresh] [--profile-startup]

For each lesson, builds COUNT submissions (complete, partial and blank, in turn), grades them with
nbgrader's own autograde (one at a time, as it works) in a throw-away nbgrader course, then with
``grader.pipeline.autograde`` (workers = core count; kernels forked from the warm template, and/or fresh),
in this one run; prints the times, the throughput ratio per lesson (target at least 5x on a 2-core
machine), whether every score is identical, the batch's fixed start-up (wall time no job accounts
for) and where a notebook's time goes (kernel fork, cells, judging, feedback), the peak memory of
each worker's process tree and of the machine's shared template with its kernels, and of all of it
per worker (sampled: ``bench/_memory.py``; target 2.5 GiB) and the 1,000-notebook projection. ``--profile-startup`` then times each piece of the
start-up alone (``bench/_startup.py``). Results measured on this project's machines: bench/README.md.

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
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.course_release import release  # noqa: E402
from grader.pipeline import autograde  # noqa: E402
from grader.course_release.release import SOURCE_DIR, dumps  # noqa: E402
from grader.course_release.samples import answered, solutions  # noqa: E402

import _startup  # noqa: E402  (bench/, the script's folder)
from _memory import TreeMemory  # noqa: E402


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
                     kernel: str) -> tuple[float, dict, list[dict], dict]:
    """``(wall s, {student: score}, [each notebook's timing, with its job's seconds], memory peaks)``."""
    for student, text in subs.items():
        path = root / "submissions" / student / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)
    start = time.perf_counter()
    with TreeMemory() as memory:
        report = autograde.autograde(root / "submissions", root / "out", workers=workers, progress=False,
                                     options={"kernel": kernel})
    seconds = time.perf_counter() - start
    timings = []
    for path in sorted((root / "out" / "results").glob(f"*/{lesson}.json")):
        result = json.loads(path.read_text())["result"]
        timings.append({**result.get("timing", {}), "job_s": result["row"].get("seconds") or 0.0})
    return (seconds, {r["student_id"]: float(r["score"]) for r in report.table()}, timings,
            {"workers": memory.peaks(), **memory.machine()})


def fixed_start(wall: float, timings: list[dict], workers: int) -> float:
    """The batch's wall time that no notebook's job accounts for: starting the workers, their
    judges and templates (and the coordinator's release and hashing), at ``workers`` jobs at once."""
    return max(0.0, wall - sum(t["job_s"] for t in timings) / min(workers, len(timings)))


def breakdown(timings: list[dict]) -> str:
    """Mean seconds per notebook in each phase, and how long first jobs waited for the template."""
    phases = ["kernel_start_s", "cells_s", "teardown_s", "judge_s", "feedback_s", "job_s"]
    means = {p: statistics.mean(t.get(p, 0.0) for t in timings) for p in phases}
    waits = [t["template_s"] for t in timings if t.get("template_s", 0) > 0.05]
    judging = sorted(t.get("judge_s", 0.0) for t in timings)
    return ("per notebook: kernel fork {kernel_start_s:.2f} s, cells {cells_s:.2f} s, kernel teardown "
            "{teardown_s:.2f} s, judging {judge_s:.2f} s, "
            "feedback {feedback_s:.2f} s; whole job {job_s:.2f} s".format(**means)
            # A worker's first notebook computes the references its judge then reuses (once per process).
            + f"; judging median {statistics.median(judging):.2f} s, max {judging[-1]:.2f} s"
            + (f"; first jobs waited {statistics.mean(waits):.1f} s for the template ({len(waits)}x)" if waits else "")
            + "; kernels forked from: " + ", ".join(f"{kind or 'none (fresh)'} template x{n}" for kind, n in
                                                   sorted(Counter(t.get("template") for t in timings).items(),
                                                          key=str)))


def slowest_cells(timings: list[dict], count: int = 5) -> str:
    """The notebook's cells that took longest, mean seconds over the notebooks that ran them."""
    runs: dict[str, list[float]] = {}
    for timing in timings:
        for index, seconds in timing.get("cell_s", {}).items():
            runs.setdefault(index, []).append(seconds)
    means = sorted(((statistics.mean(s), int(i)) for i, s in runs.items()), reverse=True)
    total = sum(mean for mean, _ in means)
    return (f"cells, mean sum {total:.2f} s; slowest: "
            + ", ".join(f"#{index} {mean:.2f} s" for mean, index in means[:count]))


def memory_lines(peaks: dict, timings: list[dict]) -> list[str]:
    """Per worker: the tree's peak (PSS: what it holds; RSS sum: shared pages counted per process),
    the judge's process and its own template alone; the machine's shared template (with every
    kernel forked from it) and everything at once, per worker; and the grader's own per-notebook
    measurements."""
    lines = [f"worker {pid}: tree PSS {p['tree_pss']} MiB (RSS sum {p['tree_rss']}; judge {p['worker_rss']}, "
             f"own template RSS {p['template_rss']} / PSS {p['template_pss']})"
             for pid, p in sorted(peaks["workers"].items())]
    if peaks.get("shared_template_pss"):
        lines.append(f"the machine's shared template with its kernels: PSS {peaks['shared_template_pss']} MiB")
    if peaks.get("fork_server_pss"):
        lines.append(f"the pool's fork server (the judges' shared imports): PSS {peaks['fork_server_pss']} MiB")
    lines.append(f"everything at once: PSS {peaks.get('machine_pss', 0)} MiB, "
                 f"{peaks.get('per_worker_pss', 0)} MiB per worker (target <= 2560)")
    kernels = [t.get("memory_mib", {}).get("kernel") or 0 for t in timings]
    lines.append(f"forked kernel peak RSS (the watchdog's count): max {max(kernels, default=0)} MiB")
    return lines


def projection(base: float, wall: float, start: float, count: int) -> str:
    """1,000 notebooks: nbgrader's per-notebook time, the grader's fixed start plus its steady pace."""
    nbgrader, grader = base / count * 1000, start + (wall - start) / count * 1000
    return (f"1,000 notebooks: nbgrader {nbgrader / 60:.1f} min, grader {grader / 60:.1f} min "
            f"(ratio {nbgrader / grader:.2f}x; start-up {start:.0f} s once)")


def grade_lesson(lesson: str, args, totals: dict) -> int:
    """Both graders on one lesson's submissions; prints the comparison; returns the worst tree PSS."""
    subs, worst = submissions(lesson, args.count), 0
    with tempfile.TemporaryDirectory() as tmp:
        base, base_scores = nbgrader_autograde(lesson, subs, Path(tmp) / "nbgrader")
        totals["nbgrader"] = [totals.get("nbgrader", [0, 0])[0] + base, totals.get("nbgrader", [0, 0])[1] + len(subs)]
        print(f"\n{lesson}: nbgrader autograde (sequential) {base:7.1f} s ({base / len(subs):.1f} s per notebook)")
        for kernel in args.kernels:
            wall, scores, timings, peaks = grader_autograde(lesson, subs, Path(tmp) / f"grader-{kernel}",
                                                            args.workers, kernel)
            start = fixed_start(wall, timings, args.workers)
            totals[kernel] = [totals.get(kernel, [0, 0])[0] + wall, totals.get(kernel, [0, 0])[1] + len(subs)]
            print(f"{lesson}: grader --kernel {kernel:5}       {wall:7.1f} s  ratio {base / wall:5.2f}x "
                  f"(target >= 5x)  scores identical: {scores == base_scores}")
            print(f"  fixed start-up {start:.1f} s, then {(wall - start) / len(subs):.2f} s per notebook "
                  f"with {args.workers} workers")
            print(f"  {breakdown(timings)}")
            print(f"  {slowest_cells(timings)}")
            for line in memory_lines(peaks, timings):
                print(f"  {line}")
            print(f"  {projection(base, wall, start, len(subs))}")
            worst = max([worst, peaks.get("per_worker_pss", 0)] + [p["tree_pss"] for p in peaks["workers"].values()])
            for student in subs:
                if base_scores.get(student) != scores.get(student):
                    print(f"  {student}: nbgrader {base_scores.get(student)}  grader {scores.get(student)}")
    return worst


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--lessons", nargs="+", default=["lesson1", "lesson2", "lesson3", "lesson5"])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--kernels", nargs="+", default=["fork"], choices=["fork", "fresh"],
                        help="grader kernels to measure (fresh: a new interpreter per notebook)")
    parser.add_argument("--profile-startup", action="store_true",
                        help="also time each piece of a batch's fixed start-up alone (bench/_startup.py)")
    args = parser.parse_args()
    print(f"{args.count} submissions per lesson (complete, partial, blank in turn), {os.cpu_count()} cores, "
          f"grader with {args.workers} workers; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    totals, worst_memory = {}, 0
    for lesson in args.lessons:
        worst_memory = max(worst_memory, grade_lesson(lesson, args, totals))
    print("\nall lessons, 1,000 notebooks at the mean pace of this run (start-up included per lesson batch):")
    for name, (seconds, count) in totals.items():
        print(f"  {name:9} {seconds / count * 1000 / 60:6.1f} min")
    print(f"worst peak memory per worker (PSS; a worker's tree, or the machine's total per worker): "
          f"{worst_memory} MiB (target <= 2560)")
    if args.profile_startup:
        _startup.profile(tuple(args.lessons), args.workers)


if __name__ == "__main__":
    main()
