"""Grading on a real Dask cluster: a LocalCluster whose scheduler and two worker processes talk over
TLS (temporary certificates: no kernel can reach them), the same grades as the local pool, and a
worker killed mid-batch loses nothing."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import tempfile
import threading
import time

import pytest

from grader.pipeline import autograde
from grader.sandbox import contained as sandbox
from grader.options import GradingOptions
from grader.course_release.samples import SAMPLES_DIR

pytestmark = pytest.mark.slow
os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))
OPTIONS = {"cell_timeout": 60, "notebook_timeout": 300, "memory_mb": 3000}
STUDENTS = ["ada", "ben", "cy", "eve"]


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    pytest.importorskip("distributed")
    try:
        sandbox.sandbox_flags(GradingOptions.from_dict(OPTIONS))
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    folder = tmp_path_factory.mktemp("submissions")
    for student in STUDENTS:
        (folder / student).mkdir()
        shutil.copy(SAMPLES_DIR / student / "lesson1.ipynb", folder / student / "lesson1.ipynb")
    return folder


def grades(out) -> dict:
    with open(out / "grades.csv", newline="") as f:
        return {row["student_id"]: (row["score"], row["max_score"], row["status"]) for row in csv.DictReader(f)}


def _kill_one_worker_when_busy(client, done: threading.Event):
    """SIGKILL one worker process as soon as it is running a task (a machine lost mid-batch)."""
    while not done.is_set():
        processing = client.processing()
        busy = [address for address, tasks in processing.items() if tasks]
        if busy:
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            time.sleep(3)  # inside the task: its kernel is running
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.2)


def test_dask_cluster_grades_as_the_local_pool_and_survives_a_dead_worker(submissions, tmp_path, capfd):
    from grader.pipeline import cluster

    local = autograde.autograde(submissions, tmp_path / "local", workers=2, options=OPTIONS, progress=False)
    assert len(local.rows) == len(STUDENTS)

    done, killed = threading.Event(), []
    with cluster.dask_client(local_workers=2) as client:
        assert all(address.startswith("tls://") for address in client.scheduler_info()["workers"])
        assert len(client.scheduler_info()["workers"]) == 2
        killer = threading.Thread(target=lambda: killed.append(_kill_one_worker_when_busy(client, done)))
        killer.start()
        try:
            remote = autograde.autograde(submissions, tmp_path / "dask", options=OPTIONS, progress=False,
                                         executor=cluster.executor(client))
        finally:
            done.set()
            killer.join()
    assert killed and killed[0], "no worker was killed: the test did not exercise a failure"
    assert grades(tmp_path / "dask") == grades(tmp_path / "local")
    assert remote.graded_now == len(STUDENTS)
    for student in STUDENTS:   # feedback written by the workers, on the shared folder
        assert (tmp_path / "dask" / "feedback" / student / "lesson1.html").is_file()
    printed = capfd.readouterr()
    assert "To connect another client" not in printed.out + printed.err  # no kernel banner in the logs
