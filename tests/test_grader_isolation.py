"""Round two of the attacks (issue 18), kernel side: forks that share nothing, every resource
counted, answers only from the test cells, the grader's own services out of reach.

Each case failed on the code before it and runs under forked and fresh kernels; the batch of
students graded in sequence runs on the local pool (fork and fresh) and on a Dask cluster.
"""
from __future__ import annotations

import os
import tempfile

import nbformat
import pytest

from grader.sandbox import bwrap, contained as sandbox
from grader.options import GradingOptions
from shared_batches import RESOURCE_ATTACKS

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bwrap.executable() is None, reason="bubblewrap is not installed")]
os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))

OPTIONS = {"cell_timeout": 60, "notebook_timeout": 180}


def run(sources, options) -> tuple[str, str, list[str]]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    outcome = sandbox.run_notebook(nb, options)
    status, message = outcome.status, outcome.message
    texts = ["".join(o.get("text", "") or o.get("evalue", "") for o in cell.get("outputs", [])) for cell in nb.cells]
    return status, message, texts


@pytest.mark.parametrize("kernel", ["fork", "fresh"])
@pytest.mark.parametrize("attack", sorted(RESOURCE_ATTACKS))
def test_memory_files_and_ipc_disk_blocks_are_counted(attack, kernel):
    options = {**OPTIONS, "kernel": kernel, "memory_mb": 900}
    status, message, (printed,) = run([RESOURCE_ATTACKS[attack]], options)
    assert "KEPT" not in printed, (status, message)
    if attack == "memfd":
        assert status == "oom" and "900 MiB" in message
    else:
        assert status == "crash" and "where the grader talks to it" in message


def test_a_fork_has_its_own_dev_and_no_view_of_the_template():
    status, _, (dev, cwd, fds, write) = run([
        "import os; print(sorted(os.listdir('/dev')))",
        "print(os.readlink('/proc/1/cwd'), sorted(os.listdir('/proc/1/cwd')))",
        "print(sorted(int(fd) for fd in os.listdir('/proc/1/fd')))",
        "try:\n    open('/dev/x', 'w'); print('written')\nexcept OSError:\n    print('refused')"],
        {**OPTIONS, "kernel": "fork"})
    assert status == "ok"
    assert eval(dev) == ["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",  # noqa: S307
                         "tty", "urandom", "zero"]
    assert cwd.split()[0] == bwrap.WORKDIR and ".cache" not in cwd and ".keras" not in cwd  # not the template's
    assert eval(fds) == [0, 1, 2]  # noqa: S307 - PID 1 holds nothing of the template's
    assert write.strip() == "refused"


@pytest.fixture
def graded(one_worker_batch):
    """Students graded one after the other by ONE worker: a litterer, then a reader; a thread forger;
    a disk attack (tests/shared_batches.py), in one batch with the integrity tests' students, under
    fork, fresh and Dask kernels in turn (tests/conftest.py)."""
    rows = {r["student_id"]: r for r in one_worker_batch["report"].table() if r["notebook"] == "lesson1"}
    out = one_worker_batch["out"]
    return rows, out, nbformat.read(out / "release" / "lesson1.ipynb", as_version=4)


def test_the_second_student_sees_nothing_of_the_first(graded):
    rows, out, _ = graded
    assert rows["a_first"]["status"] == rows["b_second"]["status"] == "graded"
    assert rows["b_second"]["score"] == rows["b_second"]["max_score"]
    page = (out / "feedback" / "b_second" / "lesson1.html").read_text(encoding="utf-8")
    assert "LOOKED" in page and "SEEN-BY-SECOND" not in page


def test_disk_hidden_from_sizes_is_counted_on_every_engine(graded):
    rows, out, lesson1 = graded
    q1 = sum(float(c.metadata["nbgrader"].get("points", 0)) for c in lesson1.cells
             if c.metadata.get("nbgrader", {}).get("grade_id") == "lesson1_q1")
    assert rows["d_disk"]["status"] == "crash" and "where the grader talks to it" in rows["d_disk"]["reason"]
    assert rows["d_disk"]["score"] == q1, rows["d_disk"]   # what ran before the attack still counts


def test_records_from_a_thread_earn_nothing(graded):
    rows, _, lesson1 = graded
    q1 = sum(float(c.metadata["nbgrader"].get("points", 0)) for c in lesson1.cells
             if c.metadata.get("nbgrader", {}).get("grade_id") == "lesson1_q1")
    assert rows["c_thread"]["score"] == q1, rows["c_thread"]  # its honest q1; nothing for q3


def test_a_kernel_with_the_network_cannot_use_the_local_cluster():
    distributed = pytest.importorskip("distributed")
    from grader.pipeline import cluster

    with cluster.dask_client(local_workers=1) as client:
        address = client.scheduler.address
        assert address.startswith("tls://")
        forged = cluster.temporary_security()  # TLS, but a certificate of the attacker's own authority
        with pytest.raises((OSError, TimeoutError)):
            distributed.Client(address, timeout="5s", security=forged).run_on_scheduler(os.getpid)
        with pytest.raises((OSError, TimeoutError)):
            distributed.Client(address.replace("tls://", "tcp://"), timeout="5s")


def _pid():
    return os.getpid()


@pytest.mark.parametrize("kernel", ["fork", "fresh"])
def test_a_kernel_cannot_reach_the_local_pools_fork_server(kernel, tmp_path):
    """The fork server the local pool's workers come from forks whoever connects to its socket (no
    key on Python 3.11): the socket lives in the host's /tmp, which no kernel sees."""
    from concurrent import futures
    from multiprocessing import forkserver

    from grader.pipeline import worker

    with worker.worker_environment("course", ("lesson1",), str(tmp_path)):
        with futures.ProcessPoolExecutor(1, mp_context=worker.pool_context("course")) as pool:
            assert pool.submit(_pid).result() != os.getpid()
    address = forkserver._forkserver._forkserver_address
    assert address and os.path.exists(address)
    status, _, (printed,) = run([
        f"import os, socket\nprint(os.path.exists({address!r}))\ns = socket.socket(socket.AF_UNIX)\n"
        f"try:\n    s.connect({address!r}); print('CONNECTED')\nexcept OSError as e:\n    print('refused')"],
        {**OPTIONS, "kernel": kernel})
    assert status == "ok" and printed.split() == ["False", "refused"], printed


def test_allow_network_is_refused_where_it_would_expose_a_cluster():
    distributed = pytest.importorskip("distributed")
    from grader.pipeline import cluster

    with pytest.raises(RuntimeError, match="allow-network"):
        with cluster.dask_client("tcp://127.0.0.1:1", network="allow"):
            pass
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as plain, \
            distributed.Client(plain) as client:
        why = client.submit(cluster.exposed_by_network, GradingOptions(network="allow"), pure=False).result()
        assert why and "TLS" in why
        assert client.submit(cluster.exposed_by_network, GradingOptions(), pure=False).result() is None
        with pytest.raises(sandbox.SandboxUnavailable, match="allow-network"):
            client.submit(sandbox.run_notebook, nbformat.v4.new_notebook(), {**OPTIONS, "network": "allow"},
                          pure=False).result()


@pytest.mark.parametrize("kernel", ["fork", "fresh"])
def test_no_system_v_shared_memory_to_hide_memory_in(kernel):
    """A detached System V segment would hold memory no process owns: creating one is refused."""
    status, _, (made,) = run(["import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                              "print(libc.shmget(0, 256 * 2**20, 0o1600), ctypes.get_errno())"],
                             {**OPTIONS, "kernel": kernel})
    assert status == "ok" and made.split() == ["-1", "1"]   # EPERM
