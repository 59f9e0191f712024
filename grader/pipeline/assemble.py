"""Read a submitted notebook and rebuild the notebook the grader will run.

What the student controls is the code of their own cells; everything the instructor locked comes
from the release: locked cells edited by the student are put back, locked cells the student
deleted are re-inserted where they belong, and copies of graded cells lose their grading role.
The grader later reads answers only from the test cells *this module* placed (by index), never
from whatever cell claims a grade id.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field

import nbformat

from course_utils.checking.nbgrader_cells import (grade_id_of, is_answer_cell, is_test_cell, nbgrader_meta,
                                                  points)

MAX_NOTEBOOK_BYTES = 20 * 2**20   # checked before parsing; the outputs it may hold are dropped anyway
MAX_CELLS = 1000                  # a lesson has well under 100; checked before nbformat reads it
_GRADE_CALL = re.compile(r"^\s*(q\d+(?:\.[a-z]\w*)?)\.grade\(\)\s*$")


class InvalidSubmission(Exception):
    """The file cannot be graded at all; the message says why, for the grades table."""


@dataclass
class TestCell:
    index: int          # position in the assembled notebook
    grade_id: str
    problem_id: str     # e.g. "lesson3.q3" (what the payload must name)
    points: float


@dataclass
class Assembled:
    nb: nbformat.NotebookNode
    tests: list[TestCell]
    notes: list[str] = field(default_factory=list)  # what was restored, for the feedback


def read_submission(data: bytes) -> nbformat.NotebookNode:
    """Parse a submitted file strictly enough to run it; ``InvalidSubmission`` says what is wrong."""
    if not data.strip():
        raise InvalidSubmission("the file is empty")
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise InvalidSubmission(f"the file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidSubmission("the file is not text (UTF-8): is it really a .ipynb notebook?") from None
    except json.JSONDecodeError as error:
        raise InvalidSubmission(f"the file is not valid notebook JSON ({error.msg}: line {error.lineno}, "
                                f"column {error.colno})") from None
    except RecursionError:
        raise InvalidSubmission("the file's JSON is nested too deeply to be a notebook") from None
    except ValueError as error:  # Python's limit on an int's digits (4,300), met while reading
        raise InvalidSubmission(f"the file holds a value Python refuses to read ({str(error)[:90]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise InvalidSubmission("the file is JSON but not a notebook (no list of cells)")
    if len(raw["cells"]) > MAX_CELLS:
        raise InvalidSubmission(f"the notebook has more than {MAX_CELLS} cells")
    _keep_what_grading_reads(raw)
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        raise InvalidSubmission("the file holds text that is not valid Unicode (a lone surrogate), "
                                "or values nested too deeply") from None
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for malformed input
        raise InvalidSubmission(f"the notebook could not be read ({type(error).__name__}: {error})") from None
    for cell in nb.cells:
        if not isinstance(cell.get("source", ""), str) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidSubmission("the notebook has a malformed cell")
    return nb


def _keep_what_grading_reads(raw: dict) -> None:
    """Drop (in place) what the grader never uses, so it is not even validated: the notebook's
    metadata (the release's is used), outputs, attachments, and every cell metadata but a flat
    ``nbgrader`` one. Deep or huge values there (a 4,000-digit int, 900 levels of lists) could
    otherwise break a later step (validation, copying, writing the feedback) and make the row an
    ``error``."""
    raw["metadata"] = {}
    for cell in raw["cells"]:
        if not isinstance(cell, dict):
            continue
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.pop("attachments", None)
        grading = nbgrader_meta(cell) or None
        flat = isinstance(grading, dict) and all(
            isinstance(k, str) and len(k) < 100 and (isinstance(v, (str, bool, float)) and len(str(v)) < 1000
                                                    or type(v) is int and abs(v) < 10**12 or v is None)
            for k, v in grading.items())
        if "metadata" in cell:  # a cell without any stays malformed: nbformat says so
            cell["metadata"] = {"nbgrader": grading} if flat else {}


def lesson_of(nb, lesson_ids: list[str]) -> str | None:
    """The lesson whose grade ids the notebook carries most of (None if it carries none)."""
    counts = {lesson: 0 for lesson in lesson_ids}
    for cell in nb.cells:
        gid = grade_id_of(cell) or ""
        for lesson in lesson_ids:
            if gid.startswith(lesson + "_"):
                counts[lesson] += 1
    best = max(counts, key=counts.get, default=None)
    return best if best is not None and counts[best] > 0 else None


def assemble(submitted, release, lesson: str) -> Assembled:
    """The notebook to run: the student's cells, with the release's locked cells enforced."""
    graded = {grade_id_of(c): c for c in release.cells if grade_id_of(c)}   # the release's cells with a role
    out, position, notes = _submitted_cells(submitted, graded)
    _put_back_deleted(release, graded, out, position, notes)
    nb = copy.deepcopy(release)
    nb.cells = out
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    tests = [TestCell(index, gid, problem_id(lesson, graded[gid]), points(graded[gid]))
             for gid, index in sorted(position.items(), key=lambda item: item[1]) if is_test_cell(graded[gid])]
    return Assembled(nb, tests, notes)


def _submitted_cells(submitted, graded: dict) -> tuple[list, dict, list[str]]:
    """The submitted cells in order: the first cell of each of the release's grade ids put back
    as the release has it (an answer cell keeps the student's code), every other cell plain.
    Returns the cells, ``{grade id: index}`` and notes on what was restored."""
    out, position, notes = [], {}, []
    for cell in submitted.cells:
        gid = grade_id_of(cell)
        if gid not in graded or gid in position:
            if gid in graded:  # a second copy of a graded cell: it grades nothing
                notes.append(f"a copy of cell `{gid}` was run as an ordinary cell")
            out.append(_plain(cell))
            continue
        original = graded[gid]
        kept = copy.deepcopy(original)  # locked: the release's version, whatever was submitted
        if is_answer_cell(original) and cell.cell_type == original.cell_type:
            kept.source = cell.source   # the student's answer, in the release's cell
        elif cell.source != original.source or cell.cell_type != original.cell_type:
            notes.append(f"locked cell `{gid}` was edited; the original was restored")
        position[gid] = len(out)
        out.append(kept)
    return out, position, notes


def _put_back_deleted(release, graded: dict, out: list, position: dict, notes: list[str]):
    """Re-insert (in place) the locked cells the student deleted, after the nearest earlier
    release cell present. Deleted answer cells are not re-inserted: the answer may live in a
    cell of the student's own."""
    previous = None
    for cell in release.cells:
        gid = grade_id_of(cell)
        if gid is None:
            continue
        if gid not in position and not is_answer_cell(graded[gid]):
            at = 0 if previous is None else position[previous] + 1
            out.insert(at, copy.deepcopy(cell))
            for other, index in position.items():
                if index >= at:
                    position[other] = index + 1
            position[gid] = at
            if is_test_cell(graded[gid]):
                notes.append(f"test cell `{gid}` was missing; it was put back")
        if gid in position:
            previous = gid


def problem_id(lesson: str, test_cell) -> str:
    """``lesson3.q3`` for a test cell whose code is ``q3.grade()``."""
    match = _GRADE_CALL.match(test_cell.source)
    if not match:
        raise ValueError(f"test cell {grade_id_of(test_cell)!r} is not a single `qK.grade()` call")
    return f"{lesson}.{match.group(1)}"


def _plain(cell):
    """A student's cell without any grading metadata (so it cannot pose as a graded cell)."""
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell
