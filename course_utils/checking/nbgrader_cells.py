"""The one reader of nbgrader's cell metadata and of solution regions, for the course and the grader.

A cell's ``metadata.nbgrader`` (nbgrader's own keys: ``grade_id``, ``grade``, ``solution``,
``locked``, ``points``) says what the cell is: an *answer cell* (``solution``: the student writes
there; its *solution region* lies between ``BEGIN`` and ``END``), a *test cell* (``grade`` without
``solution``: it checks an answer and carries the points), or a locked cell. Cells may be
``nbformat`` nodes or the plain dicts of a notebook's JSON.
"""
from __future__ import annotations

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader metadata itself (not a copy), ``{}`` when it has none or it is malformed."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id_of(cell) -> str | None:
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_answer_cell(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def points(cell) -> float:
    return float(nbgrader_meta(cell).get("points", 0))


def without_markers(source: str) -> list[str]:
    """The lines of an answer cell's source, the solution region's markers left out."""
    return [line for line in source.splitlines() if line.strip() not in (BEGIN, END)]
