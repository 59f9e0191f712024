"""The class at a glance: what a graded batch says, lesson by lesson and exercise by exercise.

``write_report(OUT)`` reads ``OUT/grades.csv`` (the batch's rows) and the signed results under
``OUT/results`` (each test's verdict, with the named mistake's stable id and the failed tests),
and writes ``OUT/report.csv`` (one count per line, for a spreadsheet) and ``OUT/report.html``
(``grader.reports.report_html``). A result is used only when this grader's key signed it and it is the
result of the row ``grades.csv`` holds (a stale or edited one is ignored, as ``autograde`` does).
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from grader.pipeline import signing
from grader.reports import report_html, sanitize
from grader.pipeline.files import write_atomically
from grader.pipeline.results import NO_RESULT, RAN, REPORT_COLUMNS, TestStatus   # RAN: a saved result is expected

REPORT_FIELDS = ["lesson", "exercise", "what", "value", "count", "students"]


@dataclass
class Exercise:
    """One test cell across the class: ``statuses`` {status: [student]}, ``mistakes`` {stable id:
    [student]}, ``hidden_failed`` {label: count}, ``scores`` [points earned]."""

    grade_id: str
    problem: str = ""
    max_score: float = 0.0
    statuses: dict = field(default_factory=lambda: defaultdict(list))
    mistakes: dict = field(default_factory=lambda: defaultdict(list))
    hidden_failed: Counter = field(default_factory=Counter)
    scores: list = field(default_factory=list)


@dataclass
class Lesson:
    """One lesson across the class: its rows' scores and statuses, and its exercises in order."""

    name: str
    max_score: float = 0.0
    scores: list = field(default_factory=list)
    statuses: dict = field(default_factory=lambda: defaultdict(list))   # row status: [(student, reason)]
    exercises: dict = field(default_factory=dict)
    unverified: list = field(default_factory=list)   # ran, but no result this grader signed for the row


def read_rows(out_dir: Path) -> list[dict]:
    with open(Path(out_dir) / "grades.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_results(out_dir: Path) -> dict[tuple[str, str], dict]:
    """``{(student, lesson): result}`` of the results under ``OUT/results`` this grader signed."""
    secret, found = signing.key(), {}
    for path in sorted((Path(out_dir) / "results").glob("*/*.json")):
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            result = saved["result"]
            student, lesson = result["row"]["student_id"], result["row"]["notebook"]
            fields = {"student": student, "notebook": lesson, "key": saved["key"], "result": result}
            if signing.verify(secret, fields, saved.get("signature")):
                found[(student, lesson)] = result
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def _matches(row: dict, result: dict) -> bool:
    """Whether ``result`` is the one ``row`` of grades.csv was written from."""
    saved = result["row"]
    return saved["status"] == row["status"] and abs(float(saved["score"]) - float(row["score"])) < 1e-6


def summarise(rows: list[dict], results: dict) -> dict[str, Lesson]:
    """``{lesson: Lesson}`` from the rows and their results (lessons in the rows' order)."""
    lessons: dict[str, Lesson] = {}
    for row in rows:
        student = row["student_id"]
        lesson = lessons.setdefault(row["notebook"], Lesson(row["notebook"]))
        lesson.max_score = max(lesson.max_score, float(row["max_score"] or 0))
        lesson.scores.append(float(row["score"] or 0))
        lesson.statuses[row["status"]].append((student, row["reason"]))
        result = results.get((student, row["notebook"]))
        problems = result["problems"] if result is not None and _matches(row, result) else []
        if not problems and row["status"] in RAN:
            lesson.unverified.append(student)
        for test in problems:
            _count_test(lesson, student, test)
    for lesson in lessons.values():  # the rows no test ran for, per exercise
        for exercise in lesson.exercises.values():
            counted = {s for students in exercise.statuses.values() for s in students}
            for status, entries in lesson.statuses.items():
                missing = [s for s, _ in entries if s not in counted]
                exercise.statuses[NO_RESULT].extend(missing)
    return lessons


def _count_test(lesson: Lesson, student: str, test: dict):
    exercise = lesson.exercises.setdefault(test["grade_id"], Exercise(test["grade_id"], test.get("problem", "")))
    exercise.max_score = float(test.get("max_score", 0))
    exercise.scores.append(float(test.get("score", 0)))
    exercise.statuses[test.get("status", TestStatus.NOT_RUN.value)].append(student)
    if test.get("status") == TestStatus.INCORRECT:
        exercise.mistakes[test.get("mistake") or "(no named mistake)"].append(student)
    for label in test.get("failed_tests") or ():
        if label.startswith("hidden"):
            exercise.hidden_failed[label] += 1


def csv_lines(lessons: dict[str, Lesson]) -> list[dict]:
    """The report as rows of ``REPORT_FIELDS``: one count (and who) per line."""
    lines = []

    def add(lesson, exercise, what, value, students):
        lines.append({"lesson": lesson, "exercise": exercise, "what": what, "value": value,
                      "count": len(students), "students": " ".join(sorted(students))})

    for lesson in lessons.values():
        for status, entries in sorted(lesson.statuses.items()):
            add(lesson.name, "", "row status", status, [s for s, _ in entries])
        for exercise in lesson.exercises.values():
            for status in REPORT_COLUMNS:
                if exercise.statuses.get(status):
                    add(lesson.name, exercise.grade_id, "status", status, exercise.statuses[status])
            for mistake, students in sorted(exercise.mistakes.items()):
                add(lesson.name, exercise.grade_id, "mistake", mistake, students)
            for label, count in exercise.hidden_failed.most_common():
                lines.append({"lesson": lesson.name, "exercise": exercise.grade_id, "what": "hidden test failed",
                              "value": label, "count": count, "students": ""})
    return lines


def write_report(out_dir) -> tuple[Path, Path]:
    """``OUT/report.csv`` and ``OUT/report.html`` of the batch graded into ``out_dir``."""
    out_dir = Path(out_dir)
    lessons = summarise(read_rows(out_dir), read_results(out_dir))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: sanitize.csv_cell(v) for k, v in line.items()} for line in csv_lines(lessons))
    write_atomically(out_dir / "report.csv", buffer.getvalue())
    write_atomically(out_dir / "report.html", report_html.page(lessons))
    return out_dir / "report.csv", out_dir / "report.html"
