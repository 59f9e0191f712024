"""``OUT/grades.csv``: writing it, reading it back for the exports, what each row's status is worth
there, and the terminal's summary of a batch.

Both exports (``grader.reports.export``: CSV gradebooks; ``grader.reports.export_nbgrader``: nbgrader's own
gradebook) read the rows here and map statuses the same way (``worth``):

* the statuses of a notebook that ran (``graded``, and ``timeout``, ``oom``, ``crash``: the points
  of the tests it reached) give their score;
* ``missing`` (nothing submitted) gives 0 or a blank, as ``--missing`` says;
* ``error`` (the grader failed) is always blank, so that no student gets a zero for the grader's fault;
* every other status (``invalid``, ``wrong_lesson``: not a gradable notebook of this lesson) gives
  0 or a blank, as ``--invalid`` says.
"""
from __future__ import annotations

import csv
import enum
import io
import json
import os
from pathlib import Path

from grader.pipeline.files import write_atomically
from grader.pipeline.results import CSV_FIELDS, RAN, GradeRow, Status
from grader.reports import sanitize

CHOICES = ("zero", "blank")


class Worth(enum.Enum):
    """What a ``grades.csv`` row counts for in an export (see the module's docstring)."""

    SCORE = "its score"
    MISSING = "not submitted"
    ERROR = "not graded (grader error)"
    INVALID = "not a gradable notebook"


def worth(status: str) -> Worth:
    if status in RAN:
        return Worth.SCORE
    if status == Status.MISSING:
        return Worth.MISSING
    return Worth.ERROR if status == Status.ERROR else Worth.INVALID


def check_choices(missing: str, invalid: str):
    """``ValueError`` naming the flag unless ``--missing`` and ``--invalid`` are zero or blank."""
    for name, value in (("missing", missing), ("invalid", invalid)):
        if value not in CHOICES:
            raise ValueError(f"--{name} must be 'zero' or 'blank', not {value!r}")


def release_lessons(out_dir, lessons: list[str] | None = None) -> list[str]:
    """The lessons an export may have as columns: ``lessons``, else ``OUT/lessons.json``'s, else the
    course's (a ``grades.csv`` made before autograde wrote the list)."""
    if lessons:
        return list(lessons)
    try:
        listed = json.loads((Path(out_dir) / "lessons.json").read_text(encoding="utf-8"))["lessons"]
        if isinstance(listed, list) and all(isinstance(lesson, str) for lesson in listed):
            return listed
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from grader.course_release.release import lessons as course_lessons

    return course_lessons()


def read_grades(out_dir: str | os.PathLike, lessons: list[str] | None = None) -> list[dict]:
    """The rows of ``grades.csv`` for the release's lessons (``release_lessons``); the others
    are what ``left_out`` lists."""
    return [row for row in read_all_grades(out_dir) if row["notebook"] in release_lessons(out_dir, lessons)]


def left_out(out_dir, lessons: list[str] | None = None) -> list[dict]:
    """The rows of ``grades.csv`` no export shows: files that are no lesson of the release."""
    return [row for row in read_all_grades(out_dir) if row["notebook"] not in release_lessons(out_dir, lessons)]


def read_all_grades(out_dir: str | os.PathLike) -> list[dict]:
    path = Path(out_dir) / "grades.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no grades yet (run `python -m grader autograde ... --out {out_dir}` first)")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def shown_row(row: dict) -> dict:
    """A row's dict as it is shown (``grades.csv``, the summary): a look-alike file name escaped
    (``sanitize.shown_name``) in its notebook and its reason, so that ``lesson1\u200b`` never reads as
    ``lesson1``, and no export takes it for the lesson."""
    return {**row, "notebook": sanitize.shown_name(row["notebook"]),
            "reason": sanitize.shown_reason(row.get("reason"), row["notebook"])}


def write(path: Path, rows: list[GradeRow]):
    """``grades.csv``, every text cell safe in a spreadsheet (``sanitize.csv_cell``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: sanitize.csv_cell(v) for k, v in shown_row(row.to_dict()).items() if k in CSV_FIELDS}
                     for row in rows)
    write_atomically(Path(path), buffer.getvalue())


def summary_table(rows: list[GradeRow]) -> str:
    """A plain-text table of the rows, then the count per status (control characters escaped)."""
    headers = ["student_id", "notebook", "score", "status", "reason"]
    escape = sanitize.escape_controls
    shown = [shown_row(r.to_dict()) for r in rows]
    lines = [[escape(s["student_id"]), s["notebook"], f"{float(r.score):g} / {float(r.max_score):g}",
              escape(r.status), escape(s["reason"])[:70]] for r, s in zip(rows, shown)]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    counts = {}
    for r in rows:
        counts[str(r.status)] = counts.get(str(r.status), 0) + 1
    out.append("")
    out.append(", ".join(f"{n} {escape(status)}" for status, n in sorted(counts.items())))
    return "\n".join(out)
