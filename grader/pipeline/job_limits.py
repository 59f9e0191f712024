"""Time and memory limits on one grading job, enforced without raising into running code (issue 29).

The kernel is bounded by its watchdog; this bounds the *worker's* share of a job: parsing, reading
the outputs, and above all judging, which runs the model in the worker's own process.

Nothing here injects an exception into a running thread: an exception raised asynchronously (a
signal handler, ``PyThreadState_SetAsyncExc``, a trace or profile hook) can land inside PyTorch's
or TensorFlow's C++ frames, and unwinding through them crashed the process (a segfault in
TensorFlow's ``convert_to_eager_tensor``). Instead, three layers, the first that applies decides:

1. **Cooperative checks.** ``limits.check()`` raises ``JobTimeout`` / ``JobMemory`` *in the job's own
   thread, synchronously*, between steps the grader owns (before each test cell is judged, and at
   the end). The judge's work per step is bounded by construction: each record is checked against
   ``record_limits`` and the exercise's declared probes before any judge runs.
2. **From outside, in the local pool.** The coordinator's pool (``local_pool``) gives every job a
   deadline and kills the worker *process* past it; only that job's row is ``timeout``, and the
   pool starts a new worker.
3. **The worker's own watch, for every executor** (Dask included): a monitor thread that, past the
   memory budget, or past the time budget by ``GRACE_S`` without a cooperative check having
   stopped the job, ends the process at once with ``os._exit`` and an exit code that says which
   (``EXIT_TIMEOUT``, ``EXIT_MEMORY``). ``_exit`` runs no Python and unwinds no frame. The local
   pool turns those exit codes into the job's ``timeout`` / ``oom`` row; Dask reschedules the task,
   and after ``allowed-failures`` deaths records ``KilledWorker`` as the row's ``error``.
"""
from __future__ import annotations

import os
import threading
import time

POLL_S = 0.1
GRACE_S = 30.0          # after the budget, the cooperative check's chance to end the job cleanly
EXIT_TIMEOUT = 86       # the worker's exit code when its watch ended a job that outlived its time
EXIT_MEMORY = 87        # ... whose memory outgrew its budget
PAGE = os.sysconf("SC_PAGE_SIZE")


class JobTimeout(BaseException):
    """The job outlived its time budget (raised by ``check()``, in the job's own thread; a
    ``BaseException``, so that no ``except Exception`` on the way turns it into a verdict)."""


class JobMemory(BaseException):
    """The worker's memory grew past the job's budget while it graded (raised by ``check()``)."""


def rss_bytes() -> int:
    """This process's resident memory, now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class JobLimits:
    """``with JobLimits(seconds, memory_bytes) as limits:`` bounds the block.

    ``limits.measure_memory_from_now()`` starts the memory budget (after the judge is loaded);
    ``limits.check()`` raises when a limit was passed (between steps); ``limits.peak_growth`` is
    the largest memory growth the watch saw. ``end_process`` is what the watch calls past a hard
    limit (``os._exit``; a test passes its own).
    """

    def __init__(self, seconds: float, memory_bytes: int | None, end_process=os._exit):
        self.seconds, self.memory_bytes, self.end_process = seconds, memory_bytes, end_process
        self.peak_growth = 0
        self._base = None
        self._done = threading.Event()

    def __enter__(self):
        self._deadline = time.monotonic() + self.seconds
        self._monitor = threading.Thread(target=self._watch, name="grader-job-limits", daemon=True)
        self._monitor.start()
        return self

    def measure_memory_from_now(self):
        self._base = rss_bytes()

    def over(self):
        """``JobTimeout`` or ``JobMemory`` when a limit is passed now, else ``None``."""
        if time.monotonic() > self._deadline:
            return JobTimeout
        if self._base is not None and self.memory_bytes:
            growth = rss_bytes() - self._base
            self.peak_growth = max(self.peak_growth, growth)
            if growth > self.memory_bytes:
                return JobMemory
        return None

    def check(self):
        reason = self.over()
        if reason is not None:
            raise reason()

    def _watch(self):
        while not self._done.wait(POLL_S):
            reason = self.over()
            if reason is JobMemory:
                self.end_process(EXIT_MEMORY)
                return
            if reason is JobTimeout and time.monotonic() > self._deadline + GRACE_S:
                self.end_process(EXIT_TIMEOUT)
                return

    def __exit__(self, *exc):
        self._done.set()
        self._monitor.join()
        return False
