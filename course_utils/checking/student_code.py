"""Calling the student's code from a check, and saying where it failed.

The checker calls the student's functions on probe inputs; whatever they raise is the student's
error, reported with the student's own line (frames of notebook cells), never a traceback through
the course's code or a library's.
"""
from __future__ import annotations

import traceback

from course_utils.checking.borrowed import student_running


class StudentCodeError(Exception):
    """The student's own code raised; ``describe()`` names the exception and the student's line."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error

    def describe(self) -> str:
        return describe_exception(self.error)


def describe_exception(error: BaseException) -> str:
    """``"ZeroDivisionError: division by zero at line 2: `return x / 0`"``: the last student frame."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if is_student_frame(f.filename)]
    where = ""
    if frames:
        frame = frames[-1]
        where = f" at line {frame.lineno}" + (f": `{frame.line.strip()}`" if frame.line else "")
    return f"{type(error).__name__}: {error}{where}"


def is_student_frame(filename: str) -> bool:
    """Frames of notebook cells (ipykernel writes them to /tmp/ipykernel_*/), not of libraries."""
    if "ipykernel_" in filename or filename.startswith("<"):
        return True
    library = ("course_utils", "site-packages", "dist-packages", "/lib/python")
    return not any(part in filename for part in library)


def call_student(function, *args, **kwargs):
    """Call the student's function; wrap whatever it raises so judges can report it."""
    try:
        with student_running():  # what it calls of the course's reference is noted (``borrowed``)
            return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any exception from student code is reportable
        raise StudentCodeError(error) from error
