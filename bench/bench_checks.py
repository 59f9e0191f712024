"""Latency of ``check()`` for every exercise, in the kernel of the executed source notebook.

    python bench/bench_checks.py

Each source notebook (reference answers filled in) is executed; then, in the same kernel, every
exercise is judged REPEATS times and timed. Target: p95 at most 1 s on this 2-core machine with the
bundled model. The baseline, measured in the same kernel, is one forward pass of the model on a
short prompt.
"""
from __future__ import annotations

import json
import os

from _notebooks import SOURCES, ROOT, execute

REPEATS = 5
TARGET_P95 = 1.0

TIMING_CELL = f"""
import json as _json, time as _time
from course_utils.checking import MultipartProblem as _Multi, Problem as _Problem
from course_utils.checking.context import default_framework as _fw
_model = load_model(_fw()) if 'load_model' in globals() else None
_ids = load_tokenizer().encode("The quick brown fox")
def _forward():
    if _fw() == "pt":
        import torch
        with torch.no_grad():
            _model(torch.tensor([_ids]))
    else:
        import tensorflow as tf
        _model(tf.constant([_ids]))
_forward(); _t = _time.perf_counter(); [_forward() for _ in range(5)]
_base = (_time.perf_counter() - _t) / 5
_rows = {{}}
for _name, _q in sorted(globals().items()):
    if _name.startswith("q") and _name[1:].isdigit() and isinstance(_q, _Problem):
        _times = []
        for _ in range({REPEATS}):
            _t = _time.perf_counter(); _v = _q.verdict(); _times.append(_time.perf_counter() - _t)
        _rows[_q.id] = {{"times": _times, "status": _v.status}}
print("BENCH" + _json.dumps({{"baseline": _base, "rows": _rows}}))
"""


def main():
    all_times = []
    print(f"{'exercise':16s} {'status':14s} {'median s':>9s} {'max s':>7s} {'/forward':>9s}")
    for path in SOURCES:
        nb, _ = execute(path, grading=False, extra_cells=[TIMING_CELL])
        text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
        result = json.loads(text.split("BENCH", 1)[1])
        for problem_id, row in result["rows"].items():
            times = sorted(row["times"])
            all_times += times
            print(f"{problem_id:16s} {row['status']:14s} {times[len(times) // 2]:9.3f} {times[-1]:7.3f} "
                  f"{times[len(times) // 2] / result['baseline']:9.1f}")
    all_times.sort()
    p95 = all_times[int(0.95 * (len(all_times) - 1))] if all_times else float("nan")
    print(f"\np95 over all exercises: {p95:.3f} s  (target {TARGET_P95} s: ratio {p95 / TARGET_P95:.2f})")
    print(f"notebooks: {', '.join(os.path.relpath(p, ROOT) for p in SOURCES)}")


if __name__ == "__main__":
    main()
