"""What the grader says about a submission: its ``Status``, its ``GradeRow`` and the points at stake.

A row is what ``grades.csv`` shows and what a saved result (``OUT/results``) holds under ``row``;
between processes it travels as the plain dict of ``GradeRow.to_dict()``, so any executor can
carry it and every saved result stays plain JSON. ``Status`` is a ``str``: ``Status.CRASH ==
"crash"``, and a row's dict holds the plain string.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

from course_utils.checking.nbgrader_cells import is_test_cell, points

CSV_FIELDS = ["student_id", "notebook", "score", "max_score", "status", "reason"]


class Status(str, enum.Enum):
    """Every status the grader reports; ``describe()`` says what it means in plain words."""

    GRADED = "graded"
    INVALID = "invalid"
    WRONG_LESSON = "wrong_lesson"
    MISSING = "missing"
    TIMEOUT = "timeout"
    OOM = "oom"
    CRASH = "crash"
    ERROR = "error"
    OK = "ok"  # the sandbox's outcome of a run, never a row's: the row then says ``graded``

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def describe(self) -> str:
        return MEANINGS[self]


MEANINGS = {
    Status.GRADED: "the notebook ran to the end; the score is what the answers earned",
    Status.INVALID: "not a gradable notebook (unreadable, not notebook JSON, or not a lesson of this course)",
    Status.WRONG_LESSON: "the file holds the exercises of another lesson",
    Status.MISSING: "no notebook was submitted for this lesson",
    Status.TIMEOUT: "the run went past its time limit; the tests it reached before count",
    Status.OOM: "the notebook used more memory than allowed and was stopped; the tests it reached before count",
    Status.CRASH: "the kernel died or was stopped (a crash, too many processes or files); "
                  "the tests it reached before count",
    Status.ERROR: "the grader itself failed on this submission; the next run grades it again",
    Status.OK: "every cell ran (how the sandbox reports a run; the row then says graded)",
}


class TestStatus(str, enum.Enum):
    """What happened to one test cell: the checker's verdict, or ``Not run`` (the run stopped first)."""

    CORRECT = "Correct"
    INCORRECT = "Incorrect"
    NOT_ATTEMPTED = "Not attempted"
    NOT_RUN = "Not run"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


NO_RESULT = "no result"   # the report's word for a test of a notebook that was missing, invalid or not run
REPORT_COLUMNS = (*TestStatus, NO_RESULT)   # the class report's per-test columns, in order
RAN = frozenset({Status.GRADED, Status.TIMEOUT, Status.OOM, Status.CRASH})   # the notebook ran: tests count
STOPPED = frozenset({Status.TIMEOUT, Status.OOM, Status.CRASH})   # ran, then stopped: the tests it reached


class NotRecorded(enum.Enum):
    """The value of a ``GradeRow`` measurement the row does not carry (its key is left out)."""

    NOT_RECORDED = "not recorded"


NOT_RECORDED = NotRecorded.NOT_RECORDED
MEASUREMENTS = ("peak_memory_mib", "seconds")  # in this order after the CSV fields, when recorded


@dataclass
class GradeRow:
    """One row of ``grades.csv``, with the measurements a saved result also keeps."""

    student_id: str
    notebook: str
    status: Status
    reason: str = ""
    score: float = 0.0
    max_score: float = 0.0
    peak_memory_mib: int | None | NotRecorded = NOT_RECORDED  # rows of a kernel run (None: not measured)
    seconds: float | NotRecorded = NOT_RECORDED               # rows of a job a worker ran

    def to_dict(self) -> dict:
        """The row as plain JSON-able values, keys in ``grades.csv`` order, then the measurements."""
        row = {"student_id": self.student_id, "notebook": self.notebook, "score": self.score,
               "max_score": self.max_score, "status": Status(self.status).value, "reason": self.reason}
        row.update({name: getattr(self, name) for name in MEASUREMENTS
                    if getattr(self, name) is not NOT_RECORDED})
        return row

    @classmethod
    def from_dict(cls, row: dict) -> GradeRow:
        """The inverse of ``to_dict``; raises ``ValueError`` on an unknown key or status."""
        unknown = set(row) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fields in a grade row: {', '.join(sorted(unknown))}")
        return cls(**{**row, "status": Status(row["status"])})


@dataclass
class JobResult:
    """A job's result: its row and each test's verdict (``problems``: dicts of ``grade_one``'s
    entries), plus where the time went and a grader failure's traceback when there are any."""

    row: GradeRow
    problems: list = field(default_factory=list)
    timing: dict | None = None
    traceback: str | None = None

    def to_dict(self) -> dict:
        """Plain JSON: what workers return and ``OUT/results`` keeps (signed)."""
        result = {"row": self.row.to_dict(), "problems": list(self.problems)}
        result.update({name: getattr(self, name) for name in ("timing", "traceback")
                       if getattr(self, name) is not None})
        return result

    @classmethod
    def from_dict(cls, result: dict) -> JobResult:
        """The inverse of ``to_dict``; ``ValueError`` / ``KeyError`` / ``TypeError`` on a malformed one."""
        return cls(GradeRow.from_dict(result["row"]), list(result.get("problems", [])), result.get("timing"),
                   result.get("traceback"))


def max_score(release) -> float:
    """The points of a release notebook's test cells."""
    total = 0.0
    for cell in release.cells:
        if is_test_cell(cell):
            total += points(cell)
    return total


def max_score_of_text(release_text) -> float:
    """``max_score`` of a release notebook's file text; 0.0 when it cannot be read (for rows
    written because something else failed)."""
    import nbformat

    try:
        return max_score(nbformat.reads(release_text, as_version=4))
    except Exception:  # noqa: BLE001 - only for a row about a failure
        return 0.0
