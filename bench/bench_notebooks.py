"""Execution time of every lesson notebook (source with answers, and student version unanswered).

    python bench/bench_notebooks.py

Target: at most 60 s per lesson after kernel start, on a 2-core machine with the bundled model.
Printed with the ratio to that target and to a baseline measured in this run (a bare Python that
imports course_utils), so figures from different machines can be compared.
"""
from __future__ import annotations

import os

from _notebooks import SOURCES, STUDENT, ROOT, execute, python_startup_seconds

TARGET_SECONDS = 60.0


def main():
    baseline = python_startup_seconds()
    print(f"baseline (python -c 'import course_utils'): {baseline:.2f} s\n")
    print(f"{'notebook':45s} {'kernel start':>12s} {'cells':>8s} {'/target':>8s} {'/baseline':>9s}")
    for path, grading in [(p, True) for p in SOURCES] + [(p, False) for p in STUDENT]:
        _, timing = execute(path, grading)
        print(f"{os.path.relpath(path, ROOT):45s} {timing['kernel_start']:12.1f} {timing['cells']:8.1f} "
              f"{timing['cells'] / TARGET_SECONDS:8.2f} {timing['cells'] / baseline:9.1f}")


if __name__ == "__main__":
    main()
