"""What the grader noticed about how a notebook was made, read back from what it wrote.

The grader says it in words, in two places: the row's reason (``grades.csv``: its notes joined by
"; ") and the per-test messages of a saved result (the tests it zeroed). The words are the
pipeline's own (``grader.pipeline.assemble``, ``grader.readings.evidence``,
``course_utils.checking.checker_tampering`` / ``borrowed``); ``KINDS`` lists the phrase each kind
starts with, so that a change of wording there fails ``tests/test_report.py`` here.

``flags(row, problems)``: the kinds a notebook is flagged for, each with its reason.
``zeroed(test)``: the kind a test was zeroed for, or ``None``: such a test is no mistake of the
student's and the class report never counts it as one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TAMPERING, HOOKED, REFERENCE, LOCKED, REVIEW = ("tampering", "collected under a hook", "reference use",
                                                "edited locked cell", "for review")
# (kind, the phrase that says it in a row's reason)
ROW_PHRASES = (
    (TAMPERING, re.compile(r"changes how it is graded: (?P<why>.+)")),
    (HOOKED, re.compile(r"(?P<why>\S+ earns nothing: .+)")),
    (LOCKED, re.compile(r"(?P<why>locked cell `[^`]+` was edited)")),
    (LOCKED, re.compile(r"(?P<why>a copy of cell `[^`]+` was run as an ordinary cell)")),
    (REVIEW, re.compile(r"for review: (?P<why>.+)")),
)
# (kind, how the message of a test zeroed for it begins)
TEST_PHRASES = (
    (TAMPERING, "your notebook changes how it is graded"),
    (HOOKED, "this answer was collected while the checker was being watched or changed"),
    (REFERENCE, "your answer calls "),
)
ZEROING = (TAMPERING, HOOKED, REFERENCE)   # the kinds that take points; the others are notes


@dataclass
class Flag:
    kind: str
    reason: str

    @property
    def zeroes(self) -> bool:
        return self.kind in ZEROING


def zeroed(test: dict) -> str | None:
    """The kind (``TAMPERING``, ``HOOKED``, ``REFERENCE``) a test of a saved result was zeroed
    for, else ``None``."""
    message = str(test.get("message") or "")
    if float(test.get("score") or 0) != 0:
        return None
    for kind, start in TEST_PHRASES:
        if message.startswith(start):
            return kind
    return None


def _notes(reason: str) -> list[str]:
    """The row's notes: its reason split at "; ", a note that goes on after one ("...; the original
    was restored") joined back to it."""
    notes: list[str] = []
    for part in (reason or "").split("; "):
        if notes and part.startswith(("the original was restored", "graded the ")):
            notes[-1] += "; " + part
        else:
            notes.append(part)
    return [n for n in notes if n]


def flags(row: dict, problems: list[dict] = ()) -> list[Flag]:
    """Every kind ``row`` (a ``grades.csv`` row) and its tests were flagged for, once each, in the
    order of ``ROW_PHRASES``, with the reasons (a test zeroed for reference use names its exercise)."""
    found: dict[str, list[str]] = {}
    for note in _notes(row.get("reason") or ""):
        for kind, phrase in ROW_PHRASES:
            match = phrase.search(note)
            if match:
                found.setdefault(kind, []).append(match.group("why"))
                break
    for test in problems:
        kind = zeroed(test)
        if kind == REFERENCE:
            found.setdefault(kind, []).append(f"{test.get('grade_id')}: {test.get('message')}")
    order = [TAMPERING, HOOKED, REFERENCE, LOCKED, REVIEW]
    return [Flag(kind, "; ".join(dict.fromkeys(found[kind]))) for kind in order if kind in found]
