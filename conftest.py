"""Repository-wide pytest setup: the bundled model, offline, and grading mode for source notebooks.

The README's test command runs pytest on ``tests/`` and, through nbval, on every notebook: the
instructor sources under ``grader/course/source`` (executed with ``COURSE_GRADING=1``, so any
reference answer that is not Correct raises in its test cell and fails the run) and the student
notebooks under ``notebooks/`` (executed unanswered: they must run without an exception).
"""
import os

import pytest

os.environ.setdefault("COURSE_MODEL", "course")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

SOURCE_DIR = os.path.join("grader", "course", "source") + os.sep


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # nbval starts a notebook's kernel when its first cell is set up, with os.environ as it is
    # then; this hook runs just before, so each notebook gets the mode its folder calls for.
    if type(item).__name__ == "IPyNbCell":
        if SOURCE_DIR in str(item.path):
            os.environ["COURSE_GRADING"] = "1"
        else:
            os.environ.pop("COURSE_GRADING", None)
