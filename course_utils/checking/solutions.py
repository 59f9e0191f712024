"""An exercise's reference solution, read from the one place it is written.

The solution is the solution region of the exercise's cell in its nbgrader source notebook,
``grader/course/source/<lesson>/<lesson>.ipynb``, the cell whose ``grade_id`` is
``<lesson>_<name>_answer`` (``lesson3_q3_answer`` for ``lesson3.q3``). The student's release is
made from that cell (nbgrader clears the region), and ``qK.solution()`` shows the same cell with
the region kept: the markers and the starter's ``____`` lines left out. A course released without
its sources (a graded class) has no solutions to show.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from course_utils.checking.nbgrader_cells import BEGIN, END, grade_id_of, is_answer_cell

BLANK = "____"
NOT_IN_THIS_RELEASE = "The solution is not available in this release of the course."
# course_utils and grader are installed side by side (one distribution), or sit side by side in
# the repository.
SOURCES = Path(__file__).resolve().parents[2] / "grader" / "course" / "source"


def source_notebook(lesson: str) -> Path:
    return SOURCES / lesson / f"{lesson}.ipynb"


@functools.lru_cache(maxsize=None)
def solution_cells(lesson: str) -> dict[str, str]:
    """``{grade_id: source}`` of the solution cells of ``lesson``'s source notebook ({} if absent)."""
    path = source_notebook(lesson)
    if not path.is_file():
        return {}
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = {}
    for cell in cells:
        if is_answer_cell(cell) and grade_id_of(cell):
            source = cell["source"]
            found[grade_id_of(cell)] = "".join(source) if isinstance(source, list) else source
    return found


def answer_cell_id(problem_id: str) -> str:
    """``"lesson3.q3"`` -> ``"lesson3_q3_answer"``: the grade_id of the exercise's solution cell."""
    return problem_id.replace(".", "_") + "_answer"


def solution_code(problem_id: str) -> str | None:
    """The solution of exercise ``problem_id`` as the student should see it, or None."""
    lesson = problem_id.split(".", 1)[0]
    source = solution_cells(lesson).get(answer_cell_id(problem_id))
    return None if source is None else with_solution(source)


def with_solution(cell_source: str) -> str:
    """The cell as its solution: the region's markers and the starter's ``____`` lines removed.

    ``x = ____`` before the region is the starter the solution replaces; a function's region is
    its body, so the ``def`` line stays.
    """
    kept, inside = [], False
    for line in cell_source.splitlines():
        marker = line.strip()
        if marker in (BEGIN, END):
            inside = marker == BEGIN
            continue
        if not inside and BLANK in line:
            continue
        kept.append(line)
    return "\n".join(kept).strip("\n")

