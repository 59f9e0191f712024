"""Find the submissions in a folder, and read one, without trusting anything found there.

Layouts: ``SUBMISSIONS/<student>/<lesson>.ipynb`` and nbgrader's
``SUBMISSIONS/submitted/<student>/<lesson>/<lesson>.ipynb`` (also without the ``submitted`` level).
Nothing there is followed or opened blindly: a student folder or notebook that is a symbolic link
(dangling or not: it could point at the instructor's sources), a FIFO (opening it would hang),
a device, a folder named like a notebook, or a student id that ``student_ids`` refuses becomes a
``Submission`` with a ``problem``: a row with a reason, never a hang or a crash.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from grader import student_ids
from grader.assemble import MAX_NOTEBOOK_BYTES, InvalidSubmission
from grader.files import UnreadableFile, read_regular_file

NOT_A_LESSON = "*"   # the notebook column of a row about a whole student folder


@dataclass
class Submission:
    student: str
    notebook: str            # the file's stem: the lesson it should hold
    path: Path | None        # None: nothing to grade (missing, or refused: see ``problem``)
    problem: str | None = None


def _kind(mode: int) -> str | None:
    """Why an entry of this mode is not a plain file or folder (``None`` when it is one)."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return None


def _notebooks(student_dir: Path, depth: int = 0):
    """``(stem, path, problem)`` for each ``*.ipynb`` entry (and one level of lesson folders)."""
    try:
        entries = sorted(os.scandir(student_dir), key=lambda e: e.name)
    except OSError as error:
        yield NOT_A_LESSON, None, f"the student folder cannot be read ({error.strerror})"
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # checkpoints, editor files
        mode = entry.stat(follow_symlinks=False).st_mode
        if entry.name.endswith(".ipynb"):
            stem = entry.name[:-len(".ipynb")]
            if stat.S_ISDIR(mode):
                yield stem, None, f"{entry.name} is a folder, not a notebook file"
            elif (kind := _kind(mode)) is not None:
                yield stem, None, f"{entry.name} is {kind}, not a notebook file"
            else:
                yield stem, Path(entry.path), None
        elif stat.S_ISDIR(mode) and depth == 0:
            yield from _notebooks(Path(entry.path), depth + 1)


def find_submissions(root: Path) -> list[Submission]:
    """Every ``<student>/<notebook>.ipynb`` under ``root`` (either layout), sorted; refused
    entries are included with their ``problem``."""
    root = Path(root)
    if (root / "submitted").is_dir():
        root = root / "submitted"
    found: dict = {}
    entries = sorted((e for e in os.scandir(root) if not e.name.startswith(".")), key=lambda e: e.name)
    students = []
    for entry in entries:
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISREG(mode):
            continue  # a file beside the student folders (an index, a README): not a student
        if (kind := _kind(mode)) is not None:
            found[(entry.name, NOT_A_LESSON)] = (None, f"the student folder is {kind}")
        else:
            students.append(entry.name)
    refused = student_ids.check_all(students)
    for student in students:
        if student in refused:
            found[(student, NOT_A_LESSON)] = (None, refused[student])
            continue
        for stem, path, problem in _notebooks(root / student):
            found.setdefault((student, stem), (path, problem))
    return [Submission(student, notebook, path, problem)
            for (student, notebook), (path, problem) in sorted(found.items())]


def with_missing(submissions: list[Submission], expected: list[str]) -> list[Submission]:
    """Add a ``path=None`` entry for each expected lesson a student did not submit (students
    whose whole folder was refused get none: their one row says why)."""
    have = {(s.student, s.notebook) for s in submissions}
    refused = {s.student for s in submissions if s.notebook == NOT_A_LESSON}
    students = sorted({s.student for s in submissions} - refused)
    extra = [Submission(st, nb, None) for st in students for nb in expected if (st, nb) not in have]
    return sorted(submissions + extra, key=lambda s: (s.student, s.notebook))


def read_bytes(path) -> bytes:
    """The file's bytes, refusing what is not a plain file or is too large (never blocks)."""
    try:
        return read_regular_file(path, MAX_NOTEBOOK_BYTES)
    except UnreadableFile as error:
        raise InvalidSubmission(str(error)) from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
