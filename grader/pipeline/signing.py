"""Signed results: a saved result is reused only if the coordinator itself signed it.

The key is 32 random bytes created once, with mode 600 in a folder of mode 700, in the grader's
state folder: ``$COURSE_GRADER_STATE``, else ``$XDG_STATE_HOME/course-grader``, else
``~/.local/state/course-grader``. It never lives under ``OUT`` (which may be shared with
teaching assistants), and kernels never see it (the sandbox hides that folder and every home).
Each saved result carries ``HMAC-SHA256(key, canonical JSON of student, notebook, cache key,
result)``; a result whose signature does not verify (edited, forged, copied from another student
or signed by another grader's key) is graded again, never trusted. Deleting the key only costs a
full regrade.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

KEY_FILE = "result-key"


def state_dir() -> Path:
    if os.environ.get("COURSE_GRADER_STATE"):
        return Path(os.environ["COURSE_GRADER_STATE"])
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "course-grader"


def key() -> bytes:
    """The signing key (created on first use); refuses one that others could read or write."""
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or info.st_uid != os.geteuid():
            raise RuntimeError(f"the result-signing key {path} must be a file of yours with mode 600")
        secret = f.read()
    if len(secret) < 32:
        raise RuntimeError(f"the result-signing key {path} is too short; delete it to make a new one")
    return secret


def _message(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(secret: bytes, fields: dict) -> str:
    return hmac.new(secret, _message(fields), hashlib.sha256).hexdigest()


def verify(secret: bytes, fields: dict, signature) -> bool:
    return isinstance(signature, str) and hmac.compare_digest(sign(secret, fields), signature)
