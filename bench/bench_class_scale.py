"""A class at scale on both engines: the local pool and ``--local-cluster`` must grade it alike.

    python bench/bench_class_scale.py [--students 50] [--lessons lesson1 lesson2 lesson3 lesson5]
                                      [--cluster-workers 2] [--root DIR] [--keep]

Builds a synthetic class (``python -m grader.samples --class N``: complete, partial, blank and
wrong notebooks whose outcomes are planned), grades it with ``python -m grader autograde`` on the
local process pool and again on ``--local-cluster 2`` (Dask, TLS, its own worker processes), and
checks that the two ``grades.csv`` and ``report.csv`` are identical, that every signed result
names the same statuses, scores and mistakes per test (the ``timing`` and memory measurements
are the only fields left out: they differ from run to run), and that the report counts exactly what
``expected.json`` planned. Prints each step's wall time. Exit status 1 on any difference.

Not a test: 200 notebooks take tens of minutes on two cores, more than CI's budget.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Fields of a saved result that measure the run rather than decide the grade.
MEASURED = {"timing", "seconds", "peak_memory_mib", "memory_mib"}


def timed(command: list[str], log: Path, writes: Path) -> float:
    """Runs ``python -m <command>`` in the checkout, its output appended to ``log``; wall seconds.
    A command that fails without writing ``writes`` ends the run; one that wrote it is reported
    and compared (e.g. a Dask cluster that timed out while closing, after the batch was done)."""
    start = time.perf_counter()
    with open(log, "a") as handle:
        handle.write(f"\n$ python -m {' '.join(command)}\n")
        handle.flush()
        done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        message = f"`python -m {' '.join(command)}` exited {done.returncode}; see {log}"
        if not writes.exists():
            raise SystemExit(message)
        print(f"WARNING: {message} (after writing {writes.name})", flush=True)
    return seconds


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def decided(value):
    """``value`` without the fields that measure the run (at any depth)."""
    if isinstance(value, dict):
        return {k: decided(v) for k, v in value.items() if k not in MEASURED}
    if isinstance(value, list):
        return [decided(v) for v in value]
    return value


def signed_results(out: Path) -> dict:
    from grader.reports import report

    return {f"{student}/{lesson}": decided(result) for (student, lesson), result in report.read_results(out).items()}


def reported_counts(report_csv: Path) -> dict:
    return {(l["lesson"], l["exercise"], l["what"], l["value"]): sorted(l["students"].split())
            for l in csv_rows(report_csv) if l["what"] in ("status", "mistake")}


def differences(pool: Path, dask: Path, expected: dict) -> list[str]:
    """What differs between the two engines' outputs, and between the report and the plan."""
    found = []
    for name in ("grades.csv", "report.csv"):
        a, b = csv_rows(pool / name), csv_rows(dask / name)
        if a != b:
            diff = [f"{x} != {y}" for x, y in zip(a, b) if x != y][:5]
            found.append(f"{name}: {len(a)} vs {len(b)} rows; first differences: {diff}")
    a, b = signed_results(pool), signed_results(dask)
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            found.append(f"result {key}: pool {json.dumps(a.get(key))[:300]} dask {json.dumps(b.get(key))[:300]}")
    from grader.course_release import samples_class

    shown, planned = reported_counts(pool / "report.csv"), samples_class.planned_counts(expected)
    for key in sorted(set(shown) | set(planned)):
        if shown.get(key) != planned.get(key):
            found.append(f"report vs plan {key}: shown {shown.get(key)} planned {planned.get(key)}")
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--lessons", nargs="+", default=["lesson1", "lesson2", "lesson3", "lesson5"])
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="local pool workers")
    parser.add_argument("--cluster-workers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=None, help="where the class and outputs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the class and outputs")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="class-scale-"))
    log = root / "commands.log"
    root.mkdir(parents=True, exist_ok=True)
    count = args.students * len(args.lessons)
    print(f"class of {args.students} students x {len(args.lessons)} lessons = {count} notebooks under {root}; "
          f"{os.cpu_count()} cores (shared: absolute times vary with the machine's load)", flush=True)
    common = ["--no-progress", "--lessons", *args.lessons]
    steps = {
        "build": ["grader.samples", "--class", str(args.students), "--lessons", *args.lessons,
                  "--seed", str(args.seed), "--out", str(root)],
        "pool": ["grader", "autograde", str(root / "submissions"), "--out", str(root / "pool"),
                 "--workers", str(args.workers), *common],
        "dask": ["grader", "autograde", str(root / "submissions"), "--out", str(root / "dask"),
                 "--local-cluster", str(args.cluster_workers), *common],
    }
    writes = {"build": root / "expected.json", "pool": root / "pool" / "report.csv", "dask": root / "dask" / "report.csv"}
    for name, command in steps.items():
        seconds = timed(command, log, writes[name])
        per = f" ({seconds / count:.2f} s per notebook)" if name != "build" else ""
        print(f"{name:6} {seconds:8.1f} s{per}", flush=True)
    found = differences(root / "pool", root / "dask", json.loads((root / "expected.json").read_text()))
    statuses = defaultdict(int)
    for row in csv_rows(root / "pool" / "grades.csv"):
        statuses[row["status"]] += 1
    print(f"rows by status: {dict(statuses)}")
    print("identical grades.csv, report.csv and signed verdicts; report counts = plan" if not found
          else "DIFFERENCES:\n  " + "\n  ".join(found))
    if not args.keep and args.root is None:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
