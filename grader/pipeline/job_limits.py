"""Time and memory limits on one grading job, in whatever thread the executor runs it (issue 18, item 5).

The kernel is bounded by its watchdog; this bounds the *worker's* share of a job: parsing, reading
the outputs, and above all judging, which runs the model in the worker's own process.

How: a monitor thread watches the job's clock and the worker's resident memory (``/proc/self/statm``,
measured from where the judge was ready, so the model loaded once is not counted) and, when a limit
is passed, raises ``JobTimeout`` or ``JobMemory`` *in the job's thread* with CPython's
``PyThreadState_SetAsyncExc``. It is delivered at the job's next Python instruction, whichever
thread runs the job: the local pool's main thread and a Dask worker's task thread alike (``SIGALRM``
only ever reaches the main thread, so Dask jobs ran unbounded). Both derive from ``BaseException``,
so a checker's ``except Exception`` (which turns its own failures into "the checker could not
judge") lets them through: a limit that fires inside the judge makes the row ``timeout`` / ``oom``.
The exception is raised again every ``REPEAT_S`` (15 s) until the job ends, in case something swallowed it,
and ``fired`` tells the job afterwards that its result cannot be trusted. An asynchronous exception
waits for the next Python instruction, so a blocking call (a ``sleep``, a read) would hold it off:
where the job runs in the main thread (the local pool), the monitor also sends that thread
``SIGALRM``, whose handler raises the same exception and interrupts the call.

Why not a child process per judgement: forking a worker that has TensorFlow's and PyTorch's thread
pools running is unsafe (a child can deadlock on a lock some pool thread held), and a fresh process
would load the model again for every submission. A long native call (one forward pass) is not
interrupted; the record checks (``record_limits``, ``Problem.recorded_gap``) keep each one short and
their number bounded by the exercise's declared probes, so the next instruction comes soon.
"""
from __future__ import annotations

import ctypes
import os
import signal
import threading
import time

POLL_S = 0.1
REPEAT_S = 15.0   # long enough for a cleanup (a kernel killed and reaped) not to be cut again
PAGE = os.sysconf("SC_PAGE_SIZE")


class JobTimeout(BaseException):
    """The job outlived its time budget (raised in the job's thread)."""


class JobMemory(BaseException):
    """The worker's memory grew past the job's budget while it graded (raised in the job's thread)."""


def rss_bytes() -> int:
    """This process's resident memory, now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _raise_in(thread_id: int, exception) -> None:
    """Schedule ``exception`` in the thread ``thread_id`` (``None``: cancel a scheduled one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exception) if exception else None)


class JobLimits:
    """``with JobLimits(seconds, memory_bytes) as limits:`` bounds the block's thread.

    ``limits.measure_memory_from_now()`` starts the memory budget (after the judge is loaded);
    ``limits.check()`` raises at once when a limit was passed (a cooperative check between steps);
    ``limits.fired`` is the exception class that fired, or ``None``.
    """

    def __init__(self, seconds: float, memory_bytes: int | None):
        self.seconds, self.memory_bytes = seconds, memory_bytes
        self.fired = None
        self.peak_growth = 0
        self._base = None
        self._lock = threading.Lock()
        self._done = threading.Event()

    def __enter__(self):
        self._thread_id = threading.get_ident()
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:  # blocking calls, too, are interrupted there (see the module's docstring)
            self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._deadline = time.monotonic() + self.seconds
        self._monitor = threading.Thread(target=self._watch, name="grader-job-limits", daemon=True)
        self._monitor.start()
        return self

    def measure_memory_from_now(self):
        self._base = rss_bytes()

    def check(self):
        if self.fired is not None:
            raise self.fired()

    def _on_alarm(self, signum, frame):
        if self.fired is not None and not self._done.is_set():
            raise self.fired()

    def _over(self):
        if time.monotonic() > self._deadline:
            return JobTimeout
        if self._base is not None and self.memory_bytes:
            growth = rss_bytes() - self._base
            self.peak_growth = max(self.peak_growth, growth)
            if growth > self.memory_bytes:
                return JobMemory
        return None

    def _watch(self):
        last = 0.0
        while not self._done.wait(POLL_S):
            reason = self.fired or self._over()
            if reason is None or time.monotonic() - last < REPEAT_S:
                continue
            with self._lock:
                if self._done.is_set():
                    return
                self.fired, last = reason, time.monotonic()
                _raise_in(self._thread_id, reason)
                if self._main:
                    signal.pthread_kill(self._thread_id, signal.SIGALRM)

    def __exit__(self, *exc):
        while not self._done.is_set():  # a limit firing in here must not leave the monitor running
            try:
                with self._lock:
                    self._done.set()
                    _raise_in(self._thread_id, None)  # one scheduled but not yet delivered: cancelled
            except (JobTimeout, JobMemory):
                continue
        self._monitor.join()
        if self._main:
            signal.signal(signal.SIGALRM, self._previous if self._previous is not None else signal.SIG_DFL)
        return False
