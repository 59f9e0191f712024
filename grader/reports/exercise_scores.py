"""``OUT/exercise_scores.csv``: one row per student, one column per exercise (as otter's CSV has
a column per question), then each lesson's total.

A column is a test cell's ``grade_id`` (``lesson1_q3``: lesson-prefixed, so one table holds every
lesson), in the order of its lesson's tests; a cell is the points that test earned, blank where
the lesson was missing, not gradable, or has no result this grader signed (the lesson's total and
``grades.csv`` then say why). Cells are spreadsheet-safe (``sanitize.csv_cell``).
"""
from __future__ import annotations

import csv
import io

from grader.pipeline.results import RAN
from grader.reports import sanitize

FILE = "exercise_scores.csv"


def columns(rows: list[dict], results: dict, problems_of) -> dict[str, list[str]]:
    """``{lesson: [grade_id, ...]}``: each lesson's tests in order, from the first result that has them."""
    found: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] in RAN:
            ids = [t["grade_id"] for t in problems_of(row, results)]
            if len(ids) > len(found.get(row["notebook"], [])):
                found[row["notebook"]] = ids
    return found


def render(rows: list[dict], results: dict, problems_of) -> str:
    """The CSV text; ``problems_of(row, results)``: the row's tests (``report.problems_of``)."""
    lessons = columns(rows, results, problems_of)
    header = ["student_id", *(f"{gid}" for ids in lessons.values() for gid in ids),
              *(f"{lesson} total" for lesson in lessons)]
    table: dict[str, dict] = {}
    for row in rows:
        if row["notebook"] not in lessons:
            continue
        cells = table.setdefault(row["student_id"], {})
        scores = {t["grade_id"]: t.get("score", 0) for t in problems_of(row, results)} if row["status"] in RAN else {}
        cells.update({gid: f"{float(points):g}" for gid, points in scores.items()})
        cells[f"{row['notebook']} total"] = f"{float(row['score'] or 0):g}" if row["status"] in RAN else ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for student in sorted(table):
        writer.writerow([sanitize.csv_cell(student), *(table[student].get(name, "") for name in header[1:])])
    return buffer.getvalue()
