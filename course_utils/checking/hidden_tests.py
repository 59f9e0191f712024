"""Hidden tests travel with the test cell, not with the package.

In the course's own package an exercise declares its ``hidden_probes``; the grading kernel's copy
(``grader/sandbox/kernel_package.py``) has none. The grader, which holds the full package, writes each
exercise's hidden tests into the test cell it runs (``qK.grade(nonce=..., hidden='<json>')``,
``records.seal_test_cell``), so the kernel learns them only while that cell runs, and ``grade``
lends them to the exercise for the one ``collect`` that needs them.

``{problem id: [probe spec, ...]}`` is the shape throughout: a multipart exercise's parts have ids
of their own (``lesson4.q2.a``).
"""
from __future__ import annotations

import json
from contextlib import contextmanager


def members(problem) -> list:
    """The exercise and, for a multipart one, its parts (depth first)."""
    found = [problem]
    for part in getattr(problem, "parts", {}).values():
        found += members(part)
    return found


def of(problem) -> dict[str, list]:
    """``{id: hidden probe specs}`` for the exercise and its parts that declare any."""
    return {member.id: list(member.hidden_probes) for member in members(problem)
            if getattr(member, "hidden_probes", None)}


def as_argument(tests: dict[str, list]) -> str:
    """The hidden tests as the test cell's ``hidden=`` argument: JSON text (a Python str literal
    of it goes into the cell)."""
    return json.dumps(tests, sort_keys=True, allow_nan=False)


@contextmanager
def lent(problem, argument: str | None):
    """While the block runs, each member named in ``argument`` (``as_argument``'s text) has those
    hidden probes; afterwards it has its own again (in the grading kernel: none)."""
    tests = json.loads(argument) if argument else {}
    if not isinstance(tests, dict):
        raise ValueError("hidden tests must be a JSON object {problem id: [spec, ...]}")
    changed = []
    try:
        for member in members(problem):
            if member.id in tests:
                changed.append((member, member.__dict__.get("hidden_probes", _ABSENT)))
                member.hidden_probes = list(tests[member.id])
        yield
    finally:
        for member, before in reversed(changed):
            if before is _ABSENT:
                member.__dict__.pop("hidden_probes", None)
            else:
                member.hidden_probes = before


_ABSENT = object()
