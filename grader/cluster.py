"""Dask distributed as the grading engine for classes that outgrow one machine.

    python -m grader autograde SUBMISSIONS --out OUT --scheduler tcp://HOST:8786
    python -m grader autograde SUBMISSIONS --out OUT --local-cluster 4

Each submission is one Dask task running ``grader.grade_one.grade_submission(job)`` on a worker:
the same sandboxed kernel, limits and judge as the local pool. Only the coordinating process (the
one that ran the command) writes results, ``grades.csv`` and the signed cache; workers write only
the feedback page of the submission they graded.

Resilience is Dask's own: a task whose worker dies is rescheduled on another worker; a task that
kills ``distributed.scheduler.allowed-failures`` workers (default 3) fails with ``KilledWorker``,
which the coordinator records as that submission's ``error`` row with the reason. ``retries``
re-runs a task that raised (grade_submission itself never raises, so this only covers failures
of the worker machinery).
"""
from __future__ import annotations

import contextlib
import logging


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, local_workers: int | None = None):
    """A ``distributed.Client``, closed on exit (with the local cluster it started, if any).

    ``scheduler``: the address of a running scheduler (``dask scheduler``); otherwise a
    ``LocalCluster`` of ``local_workers`` processes with one thread each (a kernel per worker).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise RuntimeError("the Dask engine needs `distributed`: pip install 'decoding-course[grader]'") from error
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(n_workers=local_workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def executor(client, retries: int = 2):
    """The ``concurrent.futures.Executor`` that ``autograde(executor=...)`` takes, on ``client``.

    pure=False: two identical jobs (a resubmitted notebook) are graded, not deduplicated."""
    return client.get_executor(retries=retries, pure=False)


@contextlib.contextmanager
def dask_executor(scheduler: str | None = None, local_workers: int | None = None, retries: int = 2):
    """``executor(client)`` on ``dask_client(scheduler, local_workers)``, closed on exit."""
    with dask_client(scheduler, local_workers) as client:
        yield executor(client, retries)


def describe(scheduler: str | None, local_workers: int | None) -> str:
    if scheduler:
        return f"Dask scheduler at {scheduler}"
    return f"a local Dask cluster of {local_workers or 2} worker processes"
