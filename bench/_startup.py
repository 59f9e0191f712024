"""Where a batch's fixed start-up goes: each piece a worker or its kernel template loads, run alone
in a fresh interpreter, with its CPU time (user + system, all threads), wall time and peak RSS.

Every worker of a batch loads its judge and starts its own template at the same time, so on a
machine with as many cores as workers the start-up's wall time is about the sum of the CPU times
below per worker. Each line is its own process, one after the other; the machine's other load
inflates wall time, hardly CPU time.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What the template preloads (grader/sandbox/template_server.py ``preload``), then its model.
TEMPLATE = ("import course_utils, torch, transformers, tensorflow, numpy, pandas, matplotlib.pyplot, "
            "ipykernel.kernelapp, ipywidgets; course_utils.load_tokenizer(); course_utils.load_model('pt')")
# transformers imports TensorFlow as a side effect (its image and video helpers) unless USE_TF=0 while
# it is imported: prepare_judge sets that unless USE_TF is set already (AUTO: the old behaviour).
JUDGE = "from grader.pipeline import worker; worker.prepare_judge('course', {lessons!r})"


def pieces(lessons: tuple[str, ...]) -> list[tuple[str, str, dict]]:
    """``[(label, code, extra environment)]``, cumulative where the label says ``+``."""
    judge = JUDGE.format(lessons=tuple(lessons))
    return [
        ("interpreter + grader's modules", "import grader.pipeline.grade_one, grader.pipeline.worker", {}),
        ("+ torch", "import grader.pipeline.grade_one, torch", {}),
        ("+ transformers (imports tensorflow)", "import grader.pipeline.grade_one, torch, transformers.modeling_utils", {}),
        ("worker: prepare_judge, transformers importing tensorflow (USE_TF=AUTO)", judge, {"USE_TF": "AUTO"}),
        ("worker: prepare_judge as it is (transformers without tensorflow)", judge, {}),
        ("template: preload + tokenizer + PyTorch model", TEMPLATE, {}),
    ]


def run_piece(code: str, extra: dict) -> tuple[float, float, int]:
    """``(cpu seconds, wall seconds, peak RSS MiB)`` of ``python -c code`` in a fresh process."""
    env = {**os.environ, "COURSE_MODEL": "course", "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "OMP_NUM_THREADS": "1", **extra}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"`python -c {code!r}` exited {process.returncode}")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start, usage.ru_maxrss // 1024


def profile(lessons: tuple[str, ...], workers: int) -> dict[str, tuple[float, float, int]]:
    """Prints and returns each piece's ``(cpu s, wall s, peak RSS MiB)``, then the start-up they
    imply for ``workers`` workers on this machine, with the judge importing tensorflow (before
    ``prepare_judge`` stopped it) and with each cut."""
    results = {}
    print(f"\nstart-up pieces, each alone in a fresh interpreter (judge of {', '.join(lessons)}):")
    for label, code, extra in pieces(lessons):
        results[label] = run_piece(code, extra)
        cpu, wall, rss = results[label]
        print(f"  {label:72} cpu {cpu:5.1f} s  wall {wall:5.1f} s  peak RSS {rss:5d} MiB")
    judge = results["worker: prepare_judge, transformers importing tensorflow (USE_TF=AUTO)"]
    lean = results["worker: prepare_judge as it is (transformers without tensorflow)"]
    template = results["template: preload + tokenizer + PyTorch model"]
    cores = min(workers, os.cpu_count() or 1)
    with_tf = workers * (judge[0] + template[0]) / cores
    print(f"  start-up CPU for {workers} workers on {cores} cores, judge importing tensorflow: {with_tf:.1f} s of wall "
          "time at best (judge + template each)")
    cuts = {"judge without tensorflow (as it is now)": workers * (lean[0] + template[0]),
            "one template per machine shared by the workers": workers * judge[0] + template[0],
            "both": workers * lean[0] + template[0]}
    for label, cpu in cuts.items():
        print(f"    with {label:72} {cpu / cores:5.1f} s  (-{with_tf - cpu / cores:.1f} s)")
    print(f"    memory per worker: judge {judge[2]} -> {lean[2]} MiB without tensorflow; "
          f"template {template[2]} MiB, shared by {workers} workers: {template[2] // max(workers, 1)} MiB each")
    return results
