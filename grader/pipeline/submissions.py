"""Find the submissions in a folder, and read one, without trusting anything found there.

Layouts: ``plain``, ``SUBMISSIONS/<student>/<lesson>.ipynb`` (or ``<student>/<lesson>/<lesson>.ipynb``),
and ``nbgrader``, ``SUBMISSIONS/submitted/<student>/<lesson>/<lesson>.ipynb``. The instructor chooses
(``--layout``); ``auto`` reads the folder's structure as a whole (``decide_layout``), so that one
student's folder named ``submitted`` can never make the grader look only inside it.
Nothing there is followed or opened blindly: a student folder or notebook that is a symbolic link
(dangling or not: it could point at the instructor's sources), a FIFO (opening it would hang),
a device, a folder named like a notebook, or a student id that ``student_ids`` refuses (a hidden
``.name`` included) becomes a ``Submission`` with a ``problem``: a row with a reason, never a hang, a
crash or a student who silently disappears.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from grader.pipeline import student_ids
from grader.pipeline.assemble import MAX_NOTEBOOK_BYTES, InvalidSubmission
from grader.pipeline.files import UnreadableFile, read_regular_file

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


LAYOUTS = ("auto", "plain", "nbgrader")
NBGRADER_FOLDERS = {"source", "release", "autograded", "feedback", "submitted"}  # of an nbgrader course


def _folders(path: Path) -> list[os.DirEntry]:
    """The real (not linked) sub-folders of ``path``; none when it cannot be read."""
    try:
        return [e for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _holds_notebooks(path: Path) -> bool:
    try:
        return any(e.name.endswith(".ipynb") and e.is_file(follow_symlinks=False) for e in os.scandir(path))
    except OSError:
        return False


def decide_layout(root: Path, layout: str = "auto") -> str:
    """``plain`` or ``nbgrader``: ``layout`` itself unless ``auto``. ``auto`` is ``nbgrader`` only when
    ``root/submitted`` is shaped as nbgrader's whole (notebooks at ``submitted/<student>/<lesson>/``,
    none higher up) and no other folder of ``root`` is shaped as a student's (notebooks directly
    inside, or one level down for a folder that is not one of an nbgrader course's)."""
    if layout not in LAYOUTS:
        raise ValueError(f"--layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if layout != "auto":
        return layout
    submitted = Path(root) / "submitted"
    if not submitted.is_dir() or submitted.is_symlink() or _holds_notebooks(submitted):
        return "plain"
    students = _folders(submitted)
    if any(_holds_notebooks(Path(s.path)) for s in students):
        return "plain"  # submitted/<lesson>.ipynb one level down: a student's own lesson folders
    if not any(_holds_notebooks(Path(a.path)) for s in students for a in _folders(Path(s.path))):
        return "plain"
    for entry in _folders(Path(root)):
        if entry.name == "submitted" or entry.name.startswith("."):
            continue
        if _holds_notebooks(Path(entry.path)) or (entry.name not in NBGRADER_FOLDERS and any(
                _holds_notebooks(Path(sub.path)) for sub in _folders(Path(entry.path)))):
            return "plain"  # a student's folder beside `submitted`: `submitted` is a student too
    return "nbgrader"


def find_submissions(root: Path, layout: str = "auto") -> list[Submission]:
    """Every ``<student>/<notebook>.ipynb`` under ``root`` in the ``layout`` (``decide_layout``),
    sorted; refused entries (hidden or odd folder names, links, pipes) are included with their
    ``problem``."""
    root = Path(root)
    if decide_layout(root, layout) == "nbgrader":
        root = root / "submitted"
    found: dict = {}
    entries = sorted(os.scandir(root), key=lambda e: e.name)
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
