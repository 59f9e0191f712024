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

from grader.pipeline import signing, student_ids
from grader.reports import exercise_scores, integrity, report_html, sanitize
from grader.pipeline.files import write_atomically
from grader.pipeline.results import NO_RESULT, RAN, Status, TestStatus   # RAN: a saved result is expected

REPORT_FIELDS = ["lesson", "exercise", "what", "value", "count", "students"]
ZEROED = "zeroed (integrity)"   # a test the grader zeroed for how the notebook was made: no mistake of the student's
COLUMNS = (*TestStatus, ZEROED, NO_RESULT)   # the per-test counts, in order


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
    scores: list = field(default_factory=list)       # of the submitted notebooks (they ran) only
    statuses: dict = field(default_factory=lambda: defaultdict(list))   # row status: [(student, reason)]
    exercises: dict = field(default_factory=dict)
    unverified: list = field(default_factory=list)   # ran, but no result this grader signed for the row

    def count(self, *statuses) -> int:
        return sum(len(self.statuses.get(s, ())) for s in statuses)

    @property
    def submitted(self) -> int:
        """Notebooks that ran (graded, or stopped with the tests they reached)."""
        return self.count(*RAN)

    @property
    def missing(self) -> int:
        return self.count(Status.MISSING)

    @property
    def not_gradable(self) -> int:
        """Files that were no gradable notebook of the lesson, and those the grader failed on."""
        return sum(len(v) for k, v in self.statuses.items()) - self.submitted - self.missing


@dataclass
class Cell:
    """One student's row for one lesson, as the class table shows it; ``link``: the feedback
    page, relative to OUT, when there is one."""

    row: dict
    link: str | None = None
    flags: list = field(default_factory=list)   # integrity.Flag


@dataclass
class ClassReport:
    """The whole report: ``lessons`` {lesson: Lesson}, ``cells`` {student: {lesson: Cell}}."""

    lessons: dict
    cells: dict


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


def problems_of(row: dict, results: dict) -> list[dict]:
    """The tests of ``row``'s result, when it is the row's (``_matches``), else []."""
    result = results.get((row["student_id"], row["notebook"]))
    return result["problems"] if result is not None and _matches(row, result) else []


def summarise(rows: list[dict], results: dict) -> dict[str, Lesson]:
    """``{lesson: Lesson}`` from the rows and their results (lessons in the rows' order)."""
    lessons: dict[str, Lesson] = {}
    for row in rows:
        student = row["student_id"]
        lesson = lessons.setdefault(row["notebook"], Lesson(row["notebook"]))
        lesson.max_score = max(lesson.max_score, float(row["max_score"] or 0))
        if row["status"] in RAN:
            lesson.scores.append(float(row["score"] or 0))
        lesson.statuses[row["status"]].append((student, row["reason"]))
        problems = problems_of(row, results)
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
    if integrity.zeroed(test):   # zeroed for how the notebook was made: counted apart, never as a mistake
        exercise.statuses[ZEROED].append(student)
        return
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
            for status in COLUMNS:
                if exercise.statuses.get(status):
                    add(lesson.name, exercise.grade_id, "status", status, exercise.statuses[status])
            for mistake, students in sorted(exercise.mistakes.items()):
                add(lesson.name, exercise.grade_id, "mistake", mistake, students)
            for label, count in exercise.hidden_failed.most_common():
                lines.append({"lesson": lesson.name, "exercise": exercise.grade_id, "what": "hidden test failed",
                              "value": label, "count": count, "students": ""})
    return lines


def feedback_link(out_dir: Path, row: dict) -> str | None:
    """``feedback/<student>/<lesson>.html`` (relative to OUT) when that page was written."""
    path = Path("feedback") / student_ids.path_name(row["student_id"]) / f"{row['notebook']}.html"
    return path.as_posix() if sanitize.shown_name(row["notebook"]) == row["notebook"] and (
        out_dir / path).is_file() else None


def class_report(out_dir: Path, rows: list[dict], results: dict) -> ClassReport:
    """The lessons' counts and the class table: a cell per (student, lesson) row."""
    cells: dict = {}
    for row in rows:
        cells.setdefault(row["student_id"], {})[row["notebook"]] = Cell(
            row, feedback_link(out_dir, row), integrity.flags(row, problems_of(row, results)))
    return ClassReport(summarise(rows, results), cells)


def write_report(out_dir) -> tuple[Path, Path]:
    """``OUT/report.csv`` and ``OUT/report.html`` of the batch graded into ``out_dir``, and
    ``OUT/exercise_scores.csv`` (``grader.reports.exercise_scores``)."""
    out_dir = Path(out_dir)
    rows, results = read_rows(out_dir), read_results(out_dir)
    report = class_report(out_dir, rows, results)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: sanitize.csv_cell(v) for k, v in line.items()} for line in csv_lines(report.lessons))
    write_atomically(out_dir / "report.csv", buffer.getvalue())
    write_atomically(out_dir / exercise_scores.FILE, exercise_scores.render(rows, results, problems_of))
    write_atomically(out_dir / "report.html", report_html.page(report))
    return out_dir / "report.csv", out_dir / "report.html"
