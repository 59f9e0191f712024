"""Repository-wide pytest setup: the bundled model, offline, and grading mode for source notebooks.

The README's test command runs pytest on ``tests/`` and, through nbval, on every notebook: the
instructor sources under ``grader/course/source`` (executed with ``COURSE_GRADING=1``, so any
reference answer that is not Correct raises in its test cell and fails the run) and the student
notebooks under ``notebooks/`` (executed unanswered: they must run without an exception).

Under ``CI=true`` a test of the sandbox, the forked kernels, the attack suite or the browser may not
skip: a skip there would turn "security untested" into a green run, so it fails instead, with the
skip's own reason naming what is missing (``pytest_runtest_makereport`` below).
"""
import os
import re

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


# The tests that guard what a green CI promises: the grader's containment and what students see.
MUST_RUN_MODULES = {"test_grader_attacks.py", "test_forked_kernel.py", "test_browser.py",
                    "test_grader_cluster.py"}
MUST_RUN_REASON = re.compile(r"bubblewrap|bwrap|sandbox|namespace|chromium|playwright|jupyterlab", re.I)


def must_not_skip(module: str, reason: str) -> bool:
    """Whether, under ``CI=true``, a skip of a test in ``module`` for ``reason`` is a failure."""
    return os.environ.get("CI", "").lower() == "true" and (
        os.path.basename(module) in MUST_RUN_MODULES or bool(MUST_RUN_REASON.search(reason)))


def _fail_instead_of_skip(report, module: str):
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if must_not_skip(module, reason):
        report.outcome = "failed"
        report.longrepr = (f"CI=true: {report.nodeid or module} may not skip (a sandbox, forked-kernel, "
                           f"attack or browser test), but would have: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_instead_of_skip(outcome.get_result(), str(item.path))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield   # a module that skips as a whole (a module-level importorskip)
    _fail_instead_of_skip(outcome.get_result(), str(getattr(collector, "path", "")))
