"""Run one notebook in a contained kernel: fresh process, fresh directory, limits, watchdog.

The containment, from the outside in (``containment()`` reports which layers are active):

* a fresh ``ipykernel`` process per notebook, started in its own session (process group) with
  the working directory a fresh temporary folder holding only student-visible files;
* resource limits set by the launch command itself (a tiny exec wrapper, not ``preexec_fn``,
  which is unsafe with threads): ``RLIMIT_AS`` (high: it counts reserved address space),
  ``RLIMIT_FSIZE``, no core files, and ``PR_SET_PDEATHSIG`` so the kernel dies with its worker;
* no network: ``unshare -rn`` (a new, empty network namespace) around the kernel, which then has
  to talk over Unix sockets (``transport="ipc"``; over TCP it would never answer). Where user
  namespaces are unavailable the kernel runs without it, and ``containment()`` says so;
* one thread for BLAS/OpenMP/TensorFlow per kernel;
* a watchdog thread in the grader that kills the kernel's whole process group when the notebook
  deadline passes, when a cell outlives its limit (a cell that ignores SIGINT defeats nbclient's
  own timeout), or when the group's resident memory exceeds the cap (polled from ``/proc``);
* outputs capped while they stream in (per cell), so a print loop cannot exhaust the grader.
"""
from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

# Exec wrapper: set limits on itself, then become the kernel (limits survive execve).
_LIMITS_WRAPPER = """\
import ctypes, os, resource, signal, sys
as_bytes, fsize_bytes = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_bytes, fsize_bytes))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
try:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the grader worker
except Exception:
    pass
os.execvp(sys.argv[3], sys.argv[3:])
"""

SINGLE_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
}


@functools.lru_cache(maxsize=None)
def network_isolation_available() -> bool:
    """True when ``unshare -rn`` works here (unprivileged user + network namespaces)."""
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def containment(options: dict) -> dict:
    """Which layers of containment a kernel started with ``options`` gets on this machine."""
    no_net = options.get("network", "auto") != "allow" and network_isolation_available()
    return {
        "process": "fresh ipykernel per submission, own process group, fresh temp dir",
        "network": "blocked: unshare -rn (empty network namespace), kernel on ipc transport"
                   if no_net else "NOT blocked (unshare -rn unavailable or disabled); HF_HUB_OFFLINE=1 only",
        "memory": f"RSS watchdog {options['memory_mb']} MiB on the kernel's process group "
                  f"+ RLIMIT_AS {options['address_space_mb']} MiB",
        "time": f"{options['cell_timeout']} s per cell, {options['notebook_timeout']} s per notebook, "
                "watchdog kills the process group",
        "threads": "OPENBLAS/OMP/MKL/TF threads = 1",
    }


class ContainedKernelManager(AsyncKernelManager):
    """A kernel manager whose launch command is wrapped in the limits and ``unshare -rn``.

    Asynchronous on purpose: with a blocking manager nbclient gets a blocking client, whose
    message polls stall its event loop, so a dead kernel is never noticed and timeouts never fire.
    """

    command_prefix: list = []

    def format_kernel_cmd(self, extra_arguments=None):
        return list(self.command_prefix) + [sys.executable, "-m", "ipykernel_launcher", "-f",
                                            os.path.realpath(self.connection_file)]


class CappedClient(NotebookClient):
    """nbclient, with outputs capped per cell while they stream in."""

    max_cell_output_bytes = 1_000_000

    def output(self, outs, msg, display_id, cell_index):
        used = self._output_bytes.get(cell_index, 0)
        size = len(repr(msg.get("content", "")))
        self._output_bytes[cell_index] = used + size
        if used + size > self.max_cell_output_bytes:
            if used <= self.max_cell_output_bytes:
                outs.append({"output_type": "stream", "name": "stderr",
                             "text": f"[grader: output of this cell cut at {self.max_cell_output_bytes:,} bytes]\n"})
            return None
        return super().output(outs, msg, display_id, cell_index)

    def reset_execution_trackers(self):
        super().reset_execution_trackers()
        self._output_bytes = {}


class Watchdog(threading.Thread):
    """Kills the kernel's process group on a deadline, a stuck cell, or too much memory."""

    def __init__(self, pgid: int, notebook_timeout: float, cell_limit: float, memory_bytes: int):
        super().__init__(daemon=True)
        self.pgid, self.cell_limit, self.memory_bytes = pgid, cell_limit, memory_bytes
        self.deadline = time.monotonic() + notebook_timeout
        self.cell_started: float | None = None
        self.cell_index: int | None = None
        self.reason: tuple[str, str] | None = None  # (status, message) once it has killed
        self.peak_rss = 0
        self._stop = threading.Event()

    def run(self):
        while not self._stop.wait(0.2):
            now = time.monotonic()
            rss = group_rss_bytes(self.pgid)
            self.peak_rss = max(self.peak_rss, rss)
            if rss > self.memory_bytes:
                self.kill("oom", f"the kernel used more than {self.memory_bytes // 2**20} MiB of memory")
            elif now > self.deadline:
                self.kill("timeout", "the notebook ran past its time limit")
            elif self.cell_started is not None and now - self.cell_started > self.cell_limit:
                self.kill("timeout", f"a cell ran past its time limit ({self.cell_limit:.0f} s) and "
                                     "did not stop when interrupted")

    def kill(self, status: str, message: str):
        if self.reason is None:
            self.reason = (status, message)
        kill_group(self.pgid)

    def stop(self):
        self._stop.set()


def kill_group(pgid: int):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(km):
    """Wait for the killed kernel, so it does not linger as a zombie of this worker."""
    process = getattr(km.provisioner, "process", None) if km.provisioner is not None else None
    try:
        if process is not None:
            process.wait(timeout=10)
    except Exception:  # noqa: BLE001 - best effort; the worker exits eventually anyway
        pass


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in the process group ``pgid``, from /proc."""
    total, page = 0, os.sysconf("SC_PAGE_SIZE")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
                with open(f"/proc/{name}/statm", "rb") as f:
                    total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def kernel_env(options: dict) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JPY_", "COURSE_", "PYTEST_", "JUPYTER_"))}
    env.update(SINGLE_THREAD_ENV)
    env.update({"COURSE_GRADING": "1", "COURSE_MODEL": options.get("model", "course"),
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    return env


def run_notebook(nb, student_files: list[str], options: dict):
    """Execute ``nb`` (in place) in a contained kernel. Returns ``(status, message, info)``.

    ``status`` is ``"ok"`` when every cell ran (errors in cells are allowed and recorded), else
    ``"timeout"``, ``"oom"`` or ``"crash"``; ``info`` has the index of the cell that was running
    when it stopped (``stopped_at``) and the peak memory.
    """
    root = tempfile.mkdtemp(prefix="grader-")
    workdir, rundir = os.path.join(root, "work"), os.path.join(root, "run")
    os.makedirs(workdir)
    os.makedirs(rundir, mode=0o700)
    for path in student_files:
        shutil.copy(path, workdir)
    no_net = options.get("network", "auto") != "allow" and network_isolation_available()
    km = ContainedKernelManager(kernel_name="python3", transport="ipc" if no_net else "tcp",
                                connection_file=os.path.join(rundir, "kernel.json"))
    if no_net:
        km.ip = os.path.join(rundir, "ipc")
    km.command_prefix = [sys.executable, "-c", _LIMITS_WRAPPER,
                         str(options["address_space_mb"] * 2**20), str(options["file_size_mb"] * 2**20)]
    if no_net:
        km.command_prefix += ["unshare", "-rn"]
    client = CappedClient(nb, km=km, timeout=options["cell_timeout"], interrupt_on_timeout=False,
                          allow_errors=True, record_timing=False, shutdown_kernel="immediate",
                          startup_timeout=options.get("startup_timeout", 120), iopub_timeout=10)
    client.max_cell_output_bytes = options["max_cell_output_bytes"]
    status, message, info = "ok", "", {"stopped_at": None}
    watchdog = None
    try:
        run_sync(km.start_kernel)(cwd=workdir, env=kernel_env(options))
        pgid = km.provisioner.process.pid  # start_new_session: the kernel leads its own group
        watchdog = Watchdog(pgid, options["notebook_timeout"], options["cell_timeout"] + 15,
                            options["memory_mb"] * 2**20)
        watchdog.start()

        def started(cell, cell_index, **_):
            watchdog.cell_started, watchdog.cell_index = time.monotonic(), cell_index

        def finished(cell, cell_index, **_):
            watchdog.cell_started = None

        client.on_cell_execute, client.on_cell_executed = started, finished
        client.execute()
    except CellTimeoutError:
        status, message = "timeout", f"a cell ran past its time limit ({options['cell_timeout']} s)"
    except DeadKernelError:
        status, message = "crash", "the kernel died (the code crashed or exited the process)"
    except RuntimeError as error:  # e.g. the kernel never started
        status, message = "crash", f"the kernel could not run the notebook ({error})"
    finally:
        if watchdog is not None:
            watchdog.stop()
            info["stopped_at"] = watchdog.cell_index if (status != "ok" or watchdog.reason) else None
            info["peak_rss_mb"] = watchdog.peak_rss // 2**20
            if watchdog.reason:  # the watchdog's reason is the real one (it caused the death)
                status, message = watchdog.reason
            kill_group(watchdog.pgid)
            _reap(km)
        try:
            client._cleanup_kernel() if client.kc is not None else None
        except Exception:  # noqa: BLE001 - the kernel is already killed; nothing to save
            pass
        try:
            run_sync(km.cleanup_resources)()
        except Exception:  # noqa: BLE001
            pass
        shutil.rmtree(root, ignore_errors=True)
    return status, message, info
