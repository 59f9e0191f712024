"""The grading protocol: what a recorded answer (a *payload*) may say, how it leaves the kernel,
and how a verdict on it is scaled to the exercise's points.

A payload is plain JSON-able data made by ``collect`` in the student's kernel. Besides an answer
(``{"value": ...}`` or ``{"probes": [...]}``) it may say that there is none:

* ``{"missing": name}``: the variable or function is not defined;
* ``{"blank": name}``: it is still the starter's ``____`` (or the stub of a function);
* ``{"error": text}``: the student's code raised while the answer was collected;
* ``{"unreadable": text}``: the answer is of a type the checker does not read.

Under the grader, ``grade()`` prints ``{"problem": id, "payload": payload}`` as a display output of
MIME type ``ANSWER_MIME``; the grader reads it from the locked test cell and judges it itself.
"""
from __future__ import annotations

import dataclasses

import json
import secrets

from course_utils.checking.notebook import in_kernel
from course_utils.checking.verdict import INCORRECT, Verdict, incorrect, not_attempted

ANSWER_MIME = "application/vnd.course.answer+json"


class Blank:
    """The placeholder ``____`` that starter code assigns: its presence means 'not attempted'."""

    def __repr__(self):
        return "____"


____ = Blank()


def verdict_without_answer(payload: dict) -> Verdict | None:
    """The verdict for payloads that carry no answer (missing, blank, error, unreadable), else None."""
    if "missing" in payload:
        return not_attempted(f"`{payload['missing']}` is not defined yet: run the cell where you set it.")
    if "blank" in payload:
        return not_attempted(f"replace the ____ in `{payload['blank']}` with your answer.")
    if "error" in payload:
        return incorrect(f"Your code raised {payload['error']}")
    if "unreadable" in payload:
        return incorrect(f"The checker could not read {payload['unreadable']}.")
    return None


def emit_answer_record(problem_id: str, payload: dict, nonce: str | None = None, evidence: dict | None = None):
    """Send the payload out of the kernel for the grader (printed as JSON outside a kernel), with
    the test cell's ``nonce`` (the grader wrote it into that cell's source: see ``with_nonce``) and
    what ran around ``collect`` (``evidence``: ``graded_cell``)."""
    data = {"problem": problem_id, "payload": payload}
    if nonce is not None:
        data["nonce"] = str(nonce)
    if evidence is not None:
        data["evidence"] = evidence
    if in_kernel():
        from IPython.display import display

        display({ANSWER_MIME: displayable(data), "text/plain": f"[answer to {problem_id} recorded]"}, raw=True)
    else:
        print(json.dumps({ANSWER_MIME: data}))


def with_nonce(problem_id: str, nonce: str, hidden: str = "") -> str:
    """The test cell of ``problem_id`` (released as ``qK.grade()``) as the grader runs it: the
    exercise found by its id in its lesson module (``graded_cell.run``), never the notebook's
    global ``qK``, with ``nonce`` and ``hidden='<json>'`` when the exercise has hidden tests
    (``hidden_tests.as_argument``). The nonce is new for every cell of every run, so the kernel
    learns it only when that cell runs. ``__import__`` binds no name in the notebook."""
    from course_utils.checking import graded_cell   # imported here too: the grader's fingerprint covers it

    return (f"__import__({graded_cell.__name__!r}, fromlist=['run']).run({problem_id!r}, nonce={nonce!r}"
            + (f", hidden={hidden!r})" if hidden else ")"))


NONCE_KEY = "course_answer_nonce"  # in the grader's copy of a test cell's metadata (never sent to the kernel)
RELEASED_KEY = "course_released_source"  # the cell as released, shown in feedback instead of the sealed one


def seal_test_cells(cells, problem_ids: list[str], hidden: list[str] | None = None):
    """Give each test cell (the grader's assembled copy) of ``problem_ids[i]`` a fresh nonce, in
    its call and its metadata, and its exercise's hidden tests (``hidden[i]``: JSON text, "" for
    none)."""
    for i, cell in enumerate(cells):
        cell.metadata[NONCE_KEY] = secrets.token_hex(16)
        cell.metadata[RELEASED_KEY] = cell.source
        cell.source = with_nonce(problem_ids[i], cell.metadata[NONCE_KEY], hidden[i] if hidden else "")


def unseal_test_cells(cells):
    """Each sealed cell's source as released (``qK.grade()``): what its feedback shows."""
    for cell in cells:
        if RELEASED_KEY in cell.metadata:
            cell.source = cell.metadata.pop(RELEASED_KEY)


def carries_nonce(record: dict, cell) -> bool:
    """Whether ``record``, read from test ``cell``'s outputs, carries that cell's nonce (a record
    made before the cell ran, or by anything but its ``grade`` call, does not)."""
    return record.get("nonce") == cell.get("metadata", {}).get(NONCE_KEY)


def displayable(record: dict) -> str:
    """The record as a display output carries it: its JSON text, read back by the grader's
    ``json.loads``. As text, an infinity or a NaN (a filter's -inf) stays ``-Infinity`` (Jupyter's
    message packer would turn those floats into strings, with a warning on stderr), and a record of
    vocabulary-sized rows is encoded once (a dict would be encoded by the packer and measured by
    the grader's output cap again: ~0.3 s more per such record)."""
    return json.dumps(record)


def scaled(verdict: Verdict, points: float) -> Verdict:
    """The verdict with its score rescaled from ``max_score`` to the exercise's ``points``."""
    fraction = verdict.score / verdict.max_score if verdict.max_score else 0.0
    return dataclasses.replace(verdict, score=fraction * points, max_score=points)


def checker_failure(error: BaseException, points: float) -> Verdict:
    """The verdict when the checker itself failed: one line the student can report, no traceback."""
    return Verdict(INCORRECT, f"the checker could not judge this answer ({type(error).__name__}: "
                              f"{error}). If your answer looks right, tell your instructor.", 0.0, points)
