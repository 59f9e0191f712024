"""The local process pool: one job a worker at a time, each job stopped from outside past its deadline.

``concurrent.futures.ProcessPoolExecutor`` cannot stop one job: a worker killed for it breaks the
whole pool, and every neighbour's job fails with ``BrokenProcessPool``. ``pebble.ProcessPool``
(a maintained library, used rather than hand-written process management) gives each scheduled job a
timeout, kills only the worker that outlived it, starts another, and reports a worker that died by
itself (``ProcessExpired``, with its exit code) for its own job only. The pool's processes start in
the context ``worker.pool_context`` chooses (the judge's fork server), with ``worker.init_worker``.

``submit(grade_submission, job)`` is what ``autograde`` calls, as on any ``Executor``; the future
resolves to the ``JobResult`` dict, or raises ``TimeoutError`` / ``ProcessExpired``, which
``result_of`` turns into that job's ``timeout`` / ``oom`` / ``error`` row.
"""
from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout

from grader.pipeline import grade_one, job_limits
from grader.pipeline.job import Job


class LocalPool:
    """A pool of ``workers`` processes; a job is killed ``job_budget + margin_s`` seconds after it starts."""

    def __init__(self, workers: int, context, initializer, initargs, margin_s: float = 10.0):
        from pebble import ProcessPool

        self._pool = ProcessPool(max_workers=workers, initializer=initializer, initargs=initargs, context=context)
        self.margin_s = margin_s

    def submit(self, function, job: dict):
        timeout = grade_one.job_budget(Job.from_dict(job).options) + self.margin_s
        return self._pool.schedule(function, args=(job,), timeout=timeout)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False):
        if cancel_futures:
            self._pool.stop()
        else:
            self._pool.close()
        if wait:
            self._pool.join()


def result_of(future, job: Job) -> dict:
    """The job's ``JobResult`` as plain JSON, whatever became of its worker."""
    from pebble import ProcessExpired

    try:
        return future.result()
    except FutureTimeout:
        return grade_one.limit_result(job, job_limits.JobTimeout).to_dict()
    except ProcessExpired as error:
        if error.exitcode == job_limits.EXIT_TIMEOUT:
            return grade_one.limit_result(job, job_limits.JobTimeout).to_dict()
        if error.exitcode == job_limits.EXIT_MEMORY:
            return grade_one.limit_result(job, job_limits.JobMemory).to_dict()
        return grade_one.error_result(job, f"the grading worker died (exit code {error.exitcode})").to_dict()
