"""The brute-force audit's candidates, run where a hang or a crash is contained (issue 29).

Every public function of the course is tried as every function exercise's answer. Some take long
(pure-Python loops over the vocabulary), and any of them might crash inside a framework. Nothing
here stops a candidate by raising into it (a signal, a timer, a profile hook: one raised inside
TensorFlow's C++ segfaulted the test process). Instead the candidates run one after another in a
child process; this process waits ``CANDIDATE_S`` for each, and past that, or when the child dies,
kills the child, records the candidate as ``too slow`` / ``crashed``, and goes on with a new child
from the next candidate. The children come from multiprocessing's fork server (a clean process that
has started no framework's threads), so a new one starts in about a second.

A candidate dropped as too slow is one that cannot be an answer students are given marks for in
practice: the course's own answers take milliseconds; the margin is wide so that a loaded machine
drops none of those.
"""
from __future__ import annotations

import multiprocessing
import os

CANDIDATE_S = 10.0     # one candidate's public and hidden tests: milliseconds for a real answer
STARTUP_S = 300.0      # a child's imports and first model load, on a loaded machine


def run_contained(items: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``items``: ``(exercise id, dotted path of a course function)``. Returns each item's outcome:
    ``"answers"`` (full marks, no reference noted), ``"no"``, ``"too slow"`` or ``"crashed (...)"``."""
    context = multiprocessing.get_context("forkserver")
    outcomes: dict[tuple[str, str], str] = {}
    start = 0
    while start < len(items):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(sender, items, start), daemon=True)
        child.start()
        sender.close()
        stopped_at, why = _follow(receiver, items, outcomes)
        child.kill()
        child.join()
        receiver.close()
        if stopped_at is None:
            return outcomes
        if stopped_at < 0:
            raise RuntimeError(f"the audit's child did not start ({why}; exit code {child.exitcode})")
        outcomes[items[stopped_at]] = why if why == "too slow" else f"crashed (exit code {child.exitcode})"
        start = stopped_at + 1
    return outcomes


def _follow(receiver, items, outcomes) -> tuple[int | None, str]:
    """Read the child's reports until it is done (``None``), stuck or dead (the candidate's index,
    -1 before the first, and why)."""
    current = -1
    while True:
        if not receiver.poll(CANDIDATE_S if current >= 0 else STARTUP_S):
            return current, "too slow"
        try:
            kind, index, *outcome = receiver.recv()
        except EOFError:
            return current, "crashed"
        if kind == "start":
            current = index
        else:
            outcomes[items[index]] = outcome[0]
            if index == len(items) - 1:
                return None, ""


def _child(sender, items, start: int):
    import sys

    sys.stdout = sys.stderr = open(os.devnull, "w")   # what candidates print is not the audit's
    os.environ["COURSE_MODEL"] = "course"
    os.environ.pop("COURSE_GRADING", None)
    import warnings

    import torch

    torch.set_num_threads(1)   # the model is tiny: one thread is as fast, and fair to the other core
    from course_utils.checking.registry import get_problem

    from test_answering_functions import course_functions, earns_points_unnoticed

    functions = course_functions()
    warnings.simplefilter("ignore")
    for index in range(start, len(items)):
        problem_id, path = items[index]
        sender.send(("start", index))
        answers = earns_points_unnoticed(get_problem(problem_id), functions[path])
        sender.send(("done", index, "answers" if answers else "no"))
