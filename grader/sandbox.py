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
* its own PID namespace too where possible (``--pid --fork --kill-child``): the kernel is PID 1
  there, so when it is killed every process it started dies with it, even one that detached
  itself with ``setsid`` (a process group alone would let that one escape);
* one thread for BLAS/OpenMP/TensorFlow per kernel;
* a watchdog thread in the grader that kills the kernel's whole process tree when the notebook
  deadline passes, when a cell outlives its limit (a cell that ignores SIGINT defeats nbclient's
  own timeout), when the tree's resident memory exceeds the cap, or when it holds too many
  processes (a fork bomb; root is exempt from RLIMIT_NPROC), all polled from ``/proc``;
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

from course_utils.checking.problem import ANSWER_MIME

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

# PID 1 of a PID namespace: start the kernel as its child and reap every orphan. Were the kernel
# PID 1 itself, signals without a handler (a student's own SIGKILL, SIGTERM) would not reach it.
_NAMESPACE_INIT = """\
import os, signal, sys
kernel = os.fork()
if kernel == 0:
    # The grader's pid means nothing in here; the kernel would take its parent for dead.
    os.environ.pop("JPY_PARENT_PID", None)
    os.execvp(sys.argv[1], sys.argv[1:])
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda number, frame: os.kill(kernel, number))
status = 0
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    if pid == kernel:
        break
os._exit(os.waitstatus_to_exitcode(status) & 0xFF)  # leaving ends the namespace: all else dies
"""

SINGLE_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
}


UNSHARE_NET = ["unshare", "-rn"]
UNSHARE_PID = ["--pid", "--fork", "--kill-child"]


@functools.lru_cache(maxsize=None)
def _unshare_works(*flags: str) -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run([*flags, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def network_isolation_available() -> bool:
    """True when ``unshare -rn`` works here (unprivileged user + network namespaces)."""
    return _unshare_works(*UNSHARE_NET)


def pid_namespace_available() -> bool:
    """True when the kernel can also get a PID namespace of its own."""
    return network_isolation_available() and _unshare_works(*UNSHARE_NET, *UNSHARE_PID)


def _namespaces(options: dict) -> list[str]:
    """The ``unshare`` prefix for a kernel started with ``options`` ([] when none is possible)."""
    if options.get("network", "auto") == "allow" or not network_isolation_available():
        return []
    return [*UNSHARE_NET, *UNSHARE_PID] if pid_namespace_available() else list(UNSHARE_NET)


def containment(options: dict) -> dict:
    """Which layers of containment a kernel started with ``options`` gets on this machine."""
    prefix = _namespaces(options)
    no_net = bool(prefix)
    return {
        "process": "fresh ipykernel per submission in a fresh temp dir, own process group"
                   + (", own PID namespace (its processes die with it)" if UNSHARE_PID[0] in prefix else ""),
        "network": "blocked: unshare -rn (empty network namespace), kernel on ipc transport"
                   if no_net else "NOT blocked (unshare -rn unavailable or disabled); HF_HUB_OFFLINE=1 only",
        "memory": f"RSS watchdog {options['memory_mb']} MiB on the kernel's process tree "
                  f"+ RLIMIT_AS {options['address_space_mb']} MiB; at most {options.get('max_processes', MAX_PROCESSES)} processes",
        "time": f"{options['cell_timeout']} s per cell, {options['notebook_timeout']} s per notebook, "
                "watchdog kills the process tree",
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


MAX_ANSWER_BYTES = 32 * 2**20   # per test cell: the largest answer record (a few vocab-sized rows)


class CappedClient(NotebookClient):
    """nbclient, with outputs capped per cell while they stream in.

    Answer records (``ANSWER_MIME``) have a budget of their own, so a cell that prints a flood
    cannot push its own test's record out, and a forged giant record cannot exhaust the grader.
    """

    max_cell_output_bytes = 1_000_000
    max_answer_bytes = MAX_ANSWER_BYTES

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        is_answer = isinstance(content.get("data"), dict) and ANSWER_MIME in content["data"]
        budget = self.max_answer_bytes if is_answer else self.max_cell_output_bytes
        key = (cell_index, is_answer)
        used = self._output_bytes.get(key, 0)
        size = len(repr(content))
        self._output_bytes[key] = used + size
        if used + size > budget:
            if used <= budget:
                what = "answer record" if is_answer else "output"
                outs.append({"output_type": "stream", "name": "stderr",
                             "text": f"[grader: {what} of this cell cut at {budget:,} bytes]\n"})
            return None
        return super().output(outs, msg, display_id, cell_index)

    def reset_execution_trackers(self):
        super().reset_execution_trackers()
        self._output_bytes = {}


class Watchdog(threading.Thread):
    """Kills the kernel's process group on a deadline, a stuck cell, or too much memory."""

    def __init__(self, pgid: int, notebook_timeout: float, cell_limit: float, memory_bytes: int,
                 max_processes: int = 0):
        super().__init__(daemon=True)
        self.pgid, self.cell_limit, self.memory_bytes = pgid, cell_limit, memory_bytes
        self.max_processes = max_processes or MAX_PROCESSES
        self.deadline = time.monotonic() + notebook_timeout
        self.cell_started: float | None = None
        self.cell_index: int | None = None
        self.reason: tuple[str, str] | None = None  # (status, message) once it has killed
        self.peak_rss = 0
        self._stop = threading.Event()

    def run(self):
        while not self._stop.wait(0.2):
            now = time.monotonic()
            members = tree_members(self.pgid)
            rss = sum(rss_bytes(pid) for pid in members)
            self.peak_rss = max(self.peak_rss, rss)
            if rss > self.memory_bytes:
                self.kill("oom", f"the kernel used more than {self.memory_bytes // 2**20} MiB of memory")
            elif len(members) > self.max_processes:
                self.kill("crash", f"the notebook started more than {self.max_processes} processes")
            elif now > self.deadline:
                self.kill("timeout", "the notebook ran past its time limit")
            elif self.cell_started is not None and now - self.cell_started > self.cell_limit:
                self.kill("timeout", f"a cell ran past its time limit ({self.cell_limit:.0f} s) and "
                                     "did not stop when interrupted")

    def kill(self, status: str, message: str):
        if self.reason is None:
            self.reason = (status, message)
        kill_tree(self.pgid)

    def stop(self):
        self._stop.set()


MAX_PROCESSES = 256


def kill_tree(pgid: int):
    """SIGKILL the kernel's process group and every process descended from its leader."""
    for pid in tree_members(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
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


def tree_members(leader: int) -> set[int]:
    """The live processes of ``leader``'s group and all descendants of ``leader`` (from /proc).

    Descendants catch what left the group with ``setsid``; in the kernel's own PID namespace
    orphans are re-parented to the kernel, so they stay descendants.
    """
    parents, members = {}, set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()  # after the name: state, ppid, pgrp, ...
        except (OSError, IndexError):
            continue
        if fields[0] == b"Z":
            continue  # a zombie holds no memory
        pid, ppid, pgrp = int(name), int(fields[1]), int(fields[2])
        parents[pid] = ppid
        if pgrp == leader:
            members.add(pid)
    for pid in parents:
        chain, seen = pid, 0
        while chain in parents and chain != leader and seen < 64:
            chain, seen = parents[chain], seen + 1
        if chain == leader:
            members.add(pid)
    return members


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


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
    namespaces = _namespaces(options)
    no_net = bool(namespaces)
    km = ContainedKernelManager(kernel_name="python3", transport="ipc" if no_net else "tcp",
                                connection_file=os.path.join(rundir, "kernel.json"))
    if no_net:
        km.ip = os.path.join(rundir, "ipc")
    km.command_prefix = [sys.executable, "-c", _LIMITS_WRAPPER,
                         str(options["address_space_mb"] * 2**20), str(options["file_size_mb"] * 2**20)]
    km.command_prefix += namespaces
    if UNSHARE_PID[0] in namespaces:
        km.command_prefix += [sys.executable, "-c", _NAMESPACE_INIT]
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
                            options["memory_mb"] * 2**20, options.get("max_processes", MAX_PROCESSES))
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
            kill_tree(watchdog.pgid)
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
