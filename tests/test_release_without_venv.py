"""The grader works from its interpreter's full path, with no activated environment (cron, cluster
workers, ``.venv/bin/course-grader``): nbgrader's ``alembic`` must still be found."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_release_runs_with_a_path_that_lacks_the_environment(tmp_path):
    pytest.importorskip("nbgrader")
    bare_path = "/usr/bin:/bin"
    code = ("from pathlib import Path\nfrom grader.course_release import release\n"
            f"print(release.release(['lesson1'], out_dir=Path({str(tmp_path)!r})))")
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": bare_path, "LANG": "C.UTF-8"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "lesson1.ipynb").is_file()


def test_the_gradebook_version_read_in_process_is_the_one_nbgrader_reads_with_alembic():
    """``release.gradebook_version_in_process`` spares each release nbgrader's ``alembic`` subprocess:
    it must give the very head that subprocess prints, and put nbgrader's own function back."""
    pytest.importorskip("nbgrader")
    import nbgrader.api

    from grader.course_release import release

    original = nbgrader.api.get_alembic_version
    with release.interpreter_tools_on_path():
        by_alembic = original()
    with release.gradebook_version_in_process():
        assert nbgrader.api.get_alembic_version is not original
        in_process = nbgrader.api.get_alembic_version()
    assert in_process == by_alembic and len(by_alembic) == 12
    assert nbgrader.api.get_alembic_version is original
