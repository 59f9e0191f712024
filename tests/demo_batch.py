"""The demo's class (``grader/samples/submissions``), graded once per test session as
``python -m grader demo`` grades it: the report and browser tests read the same OUT."""
from __future__ import annotations

import os

from grader.cli import SAMPLES_DIR, main

_GRADED: dict = {}


def graded_demo(tmp_path_factory):
    """The OUT folder of the sample class, graded by autograde with the demo's (offline) settings."""
    if "out" not in _GRADED:
        from grader.sandbox.environment import OFFLINE

        for name, value in OFFLINE.items():
            os.environ.setdefault(name, value)
        out = tmp_path_factory.mktemp("demo") / "out"
        assert main(["autograde", str(SAMPLES_DIR), "--out", str(out), "--no-progress"]) == 0
        _GRADED["out"] = out
    return _GRADED["out"]
