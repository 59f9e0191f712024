"""Grading on a real Dask cluster: a LocalCluster whose scheduler and two worker processes talk over
TLS (temporary certificates: no kernel can reach them), the same grades and class report as the local
pool, and a worker killed mid-batch loses nothing. The class is the one tests/test_report.py reads,
graded once by the local pool (``graded_class``, tests/conftest.py)."""
from __future__ import annotations

import csv
import os
import signal
import tempfile
import threading
import time

import pytest

from grader.pipeline import autograde
from grader.sandbox import contained as sandbox
from grader.options import GradingOptions

pytestmark = pytest.mark.slow
os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))


@pytest.fixture(scope="module")
def local(request):
    """The class graded by the local pool: ``submissions/`` and ``out/`` (grades.csv, report.csv)."""
    pytest.importorskip("distributed")
    import shared_batches

    try:
        sandbox.sandbox_flags(GradingOptions.from_dict(shared_batches.CLASS_OPTIONS))
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    return request.getfixturevalue("graded_class")


def rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


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


def test_dask_cluster_grades_as_the_local_pool_and_survives_a_dead_worker(local, tmp_path, capfd):
    """COURSE_TEST_CLUSTER_WORKERS sets the cluster's size (default 2, the issue's; at least 2: one is killed)."""
    import shared_batches
    from grader.pipeline import cluster

    workers = int(os.environ.get("COURSE_TEST_CLUSTER_WORKERS", "2"))
    notebooks = sorted(path.relative_to(local / "submissions") for path in (local / "submissions").glob("*/*.ipynb"))
    assert workers >= 2 and len(notebooks) > workers
    done, killed = threading.Event(), []
    with cluster.dask_client(local_workers=workers) as client:
        assert all(address.startswith("tls://") for address in client.scheduler_info()["workers"])
        assert len(client.scheduler_info()["workers"]) == workers
        killer = threading.Thread(target=lambda: killed.append(_kill_one_worker_when_busy(client, done)))
        killer.start()
        try:
            remote = autograde.autograde(local / "submissions", tmp_path / "dask", options=shared_batches.CLASS_OPTIONS,
                                         progress=False, executor=cluster.executor(client))
        finally:
            done.set()
            killer.join()
    assert killed and killed[0], "no worker was killed: the test did not exercise a failure"
    for name in ("grades.csv", "report.csv"):
        assert rows(tmp_path / "dask" / name) == rows(local / "out" / name), name
    assert remote.graded_now == len(notebooks)
    for notebook in notebooks:   # feedback written by the workers, on the shared folder
        assert (tmp_path / "dask" / "feedback" / notebook.parent / f"{notebook.stem}.html").is_file()
    printed = capfd.readouterr()
    assert "To connect another client" not in printed.out + printed.err  # no kernel banner in the logs
    # On both engines every kernel is a fork of the machine's one template, which the coordinator
    # started: no worker started its own (a killed worker's jobs included).
    assert templates_used(local / "out") == templates_used(tmp_path / "dask") == {"machine"}


def templates_used(out) -> set:
    import json

    return {json.loads(path.read_text())["result"]["timing"].get("template")
            for path in (out / "results").glob("*/*.json")}
