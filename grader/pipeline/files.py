"""Reading and writing the grader's files safely: whole or not at all, and never blocking.

``write_atomically`` writes a file (a student notebook, a saved result, ``grades.csv``, a feedback
page) so that a reader sees the old one or the new one, never half of one. ``read_regular_file``
reads a file that someone else may control (a submission, a saved result) without following a
link, blocking on a FIFO or reading without bound.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class UnreadableFile(Exception):
    """The file was refused; the message says why in plain words."""


def write_atomically(path: Path, text: str):
    """Write ``text`` (UTF-8, mode 644) to a temporary file beside ``path``, then move it there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; grades and notebooks are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_regular_file(path, max_bytes: int) -> bytes:
    """The bytes of ``path``, a plain file (not a link) of at most ``max_bytes``; raises
    ``UnreadableFile`` otherwise. Never blocks (a FIFO is opened non-blocking, then refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise UnreadableFile(f"the file cannot be opened ({error.strerror})") from None
    too_large = f"the file is larger than {max_bytes // 2**20} MiB"
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("the file is not a regular file")
        if info.st_size > max_bytes:
            raise UnreadableFile(too_large)
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnreadableFile(too_large)
    return data
