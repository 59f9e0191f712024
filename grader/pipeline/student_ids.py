"""Student ids are folder names, chosen by whoever made the folder: check them before use.

An id is refused (its row says why, it is never graded) when it holds control or format
characters (a newline that forges a CSV row, an ANSI escape that rewrites the terminal, a
right-to-left override), a path separator, a leading character a spreadsheet evaluates
(``= + - @``), a leading ``.`` (a hidden folder), leading or trailing spaces, or more than ``MAX_LENGTH`` characters; and when two
ids would share a feedback file or look alike after normalisation (``jo smith`` / ``jo_smith``,
``Ada`` / ``ada``, ``ﬁ`` / ``fi``): then both are refused, so the instructor decides who is who.
"""
from __future__ import annotations

import unicodedata

from grader.reports.sanitize import escape_char, is_control

MAX_LENGTH = 128


def path_name(student: str) -> str:
    """The id as a file name (feedback and results folders): letters, digits and ``-_.@``."""
    name = unicodedata.normalize("NFKC", student)
    name = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)
    return "_" + name if name.startswith(".") or not name else name


def collision_key(student: str) -> str:
    return path_name(student).casefold()


def problem(student: str) -> str | None:
    """Why ``student`` cannot be used as an id, or ``None`` when it can."""
    if not student:
        return "the student folder has an empty name"
    if student.startswith("."):
        return "the student folder's name starts with '.' (a hidden folder); rename it if it is a student's"
    if any(is_control(c) for c in student):
        return "the student folder's name contains control characters"
    if "/" in student or "\\" in student:
        return "the student folder's name contains a path separator"
    if student[0] in "=+-@":
        return f"the student folder's name starts with {student[0]!r}, which spreadsheets evaluate"
    if student != student.strip():
        return "the student folder's name begins or ends with a space"
    if len(student) > MAX_LENGTH:
        return f"the student folder's name is longer than {MAX_LENGTH} characters"
    return None


def display(student: str) -> str:
    """The id as it may be shown anywhere: control characters as ``\\xNN`` escapes."""
    return "".join(escape_char(c) if is_control(c) else c for c in student)


def check_all(students: list[str]) -> dict[str, str]:
    """``{student: reason}`` for every id that must be refused (invalid, or colliding)."""
    refused = {s: reason for s in students if (reason := problem(s))}
    by_key: dict[str, list[str]] = {}
    for s in students:
        if s not in refused:
            by_key.setdefault(collision_key(s), []).append(s)
    for group in by_key.values():
        if len(group) > 1:
            for s in group:
                others = ", ".join(repr(display(o)) for o in group if o != s)
                refused[s] = f"the student folder's name cannot be told apart from {others}; rename one"
    return refused
