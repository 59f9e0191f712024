"""Run one notebook in a contained kernel: fresh sandbox, limits, watchdog, capped output.

The containment, from the outside in (``containment()`` reports what is active):

* **bubblewrap** (``grader.bwrap``): the kernel sees a read-only filesystem with the submissions,
  ``OUT``, the instructor's sources, homes and other jobs hidden; its only writable places are a
  private size-capped ``/tmp`` (its working directory and ``HOME``) and the IPC folder through
  which it talks to the grader over Unix sockets (``transport="ipc"``); new user, PID, network,
  IPC, UTS and cgroup namespaces; no capabilities; a cleared environment (``kernel_env``). When
  the kernel dies, its PID namespace dies, and every process it started with it. Where bwrap
  cannot run, grading refuses to start (``SandboxUnavailable``) unless the instructor asked for
  ``--unsafe-no-sandbox``;
* resource limits set by the launch command itself (``LIMITS_WRAPPER``, run with ``python -I``
  so nothing in its working directory or environment can be imported into it): ``RLIMIT_AS``
  (high: it counts reserved address space), ``RLIMIT_FSIZE``, no core files, ``RLIMIT_NPROC``
  where the sandbox has a host uid of its own;
* one thread for BLAS/OpenMP/TensorFlow per kernel;
* the watchdog (``grader.watchdog``): time, memory, tasks (processes, threads, zombies), files;
* outputs counted and capped while they stream in (``grader.capped_client``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import zmq
from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from grader import bwrap, cluster, forked_kernel
from grader.capped_client import MAX_ANSWER_BYTES, MAX_MESSAGE_BYTES, CappedClient  # noqa: F401 (re-exported)
from grader.environment import GRADING_ENV
from grader.results import Status
from grader.watchdog import MAX_PROCESSES, Watchdog, kill_tree
from grader.zygote_server import NO_SYSV_SHM

# Exec wrapper: set limits on itself, then become the kernel (limits survive execve).
LIMITS_WRAPPER = """\
import ctypes, os, resource, signal, sys
as_bytes, fsize_bytes, nproc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_bytes, fsize_bytes))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if nproc:
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
try:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with whoever started us
except Exception:
    pass
os.execv(sys.argv[4], sys.argv[4:])
"""
LIMITS_WRAPPER = LIMITS_WRAPPER.replace("os.execv(", NO_SYSV_SHM + "os.execv(", 1)

TEMPLATE_FAILED: list[str] = []  # why this worker's kernel template could not start, once it failed


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot run here and the instructor did not ask to grade without it."""


def sandbox_flags(options: dict) -> tuple[str, ...] | None:
    """The bwrap variant kernels run under, or ``None`` with ``sandbox="none"`` (unsafe).

    Raises ``SandboxUnavailable`` (saying why) when bwrap is wanted but cannot run."""
    if options.get("sandbox", "bwrap") == "none":
        return None
    flags, detail = bwrap.probe()
    if flags is None:
        raise SandboxUnavailable(f"{detail}. Install bubblewrap, or pass --unsafe-no-sandbox to grade "
                                 "without it (only for submissions you trust)")
    return flags


def containment(options: dict) -> dict:
    """Which layers of containment a kernel started with ``options`` gets on this machine."""
    try:
        flags = sandbox_flags(options)
        unavailable = None
    except SandboxUnavailable as error:
        flags, unavailable = None, str(error)
    if unavailable:
        box = f"UNAVAILABLE, grading refused: {unavailable}"
    elif flags is None:
        box = ("NONE (--unsafe-no-sandbox): the kernel runs as the grader, can read and write what the "
               "grader can, and sees the network")
    else:
        uid = bwrap.host_uid() if "drop-uid" in flags else None
        box = (f"{bwrap.describe()}: read-only filesystem; submissions, OUT, sources, homes and other jobs "
               f"hidden; private /tmp of {options.get('scratch_mb', 512)} MiB; new user/PID/IPC/UTS/cgroup "
               f"namespaces, no capabilities, cleared environment"
               + ("" if "disable-userns" in flags else ", nested user namespaces allowed")
               + (f"; runs as unprivileged host uid {uid}" if uid else ""))
    network = ("blocked: empty network namespace, kernel on Unix sockets"
               if flags is not None and options.get("network") != "allow" else "NOT blocked")
    return {
        "sandbox": box,
        "network": network,
        "memory": f"watchdog {options['memory_mb']} MiB on the kernel's process tree (resident memory, "
                  f"scratch tmpfs, memfds held open) + RLIMIT_AS {options['address_space_mb']} MiB",
        "tasks": f"at most {options.get('max_processes', MAX_PROCESSES)} processes + threads + zombies",
        "time": f"{options['cell_timeout']} s per cell, {options['notebook_timeout']} s per notebook, "
                "watchdog kills the process tree",
        "output": f"{options.get('max_cell_output_bytes', 0) // 1024} KiB per cell; display updates and "
                  "widgets dropped; answer records capped",
        "threads": "OPENBLAS/OMP/MKL/TF threads = 1",
        "kernel": ("forked per notebook from a warm template per worker (libraries imported, model loaded "
                   "once); each fork gets its own mount/PID/network/IPC/UTS namespaces, /tmp and limits, and "
                   "drops every capability before the notebook runs"
                   if flags is not None and options.get("kernel", "fork") == "fork"
                   else "a fresh interpreter per notebook"),
    }


def kernel_env(options: dict, home: str) -> dict:
    """The kernel's whole environment: an allow-list, nothing inherited but ``PASSED_THROUGH``."""
    env = {name: os.environ[name] for name in bwrap.PASSED_THROUGH if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update(GRADING_ENV)  # offline, quiet, one thread: as the judge in the worker (grader.environment)
    env.update({
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home, "TMPDIR": "/tmp" if options.get("sandbox", "bwrap") != "none" else home,
        "COURSE_GRADING": "1", "COURSE_MODEL": options.get("model", "course"),
        "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    model = options.get("model", "course")
    if model != "course" and not os.path.isdir(model):  # the Hugging Face cache, read-only in the sandbox
        env["HF_HUB_CACHE"] = bwrap.model_paths(model)[0]
    return env


def start_template(options: dict, hidden: list[str] = ()):
    """Start this worker's kernel template without waiting for it (a worker's initializer calls
    it, so that the template loads while the worker loads its judge). Never raises."""
    try:
        flags = sandbox_flags(options)
        if flags is not None and options.get("kernel", "fork") == "fork" and not TEMPLATE_FAILED:
            forked_kernel.template_for(options, kernel_env(options, bwrap.WORKDIR),
                                       bwrap.hidden_paths(list(hidden)), flags, wait=False)
    except Exception:  # noqa: BLE001 - the first notebook starts it again and reports why
        pass


def kernel_template(options: dict, env: dict, hidden: list[str], flags):
    """This worker's warm kernel template, or ``None`` for a fresh kernel per notebook.

    Templates need the sandbox (their forks build their namespaces inside it); ``kernel="fresh"``
    asks for a new interpreter per notebook. A template that cannot start here is reported once
    on stderr, and grading goes on with fresh kernels."""
    if flags is None or options.get("kernel", "fork") != "fork" or TEMPLATE_FAILED:
        return None
    try:
        return forked_kernel.template_for(options, env, bwrap.hidden_paths(list(hidden)), flags)
    except forked_kernel.TemplateUnavailable as error:
        print(f"grader: {error}; starting a fresh kernel for each notebook instead", file=sys.stderr)
        TEMPLATE_FAILED.append(str(error))
        return None


class ContainedKernelManager(AsyncKernelManager):
    """A kernel manager whose launch command is wrapped in the sandbox and the limits.

    Asynchronous on purpose: with a blocking manager nbclient gets a blocking client, whose
    message polls stall its event loop, so a dead kernel is never noticed and timeouts never fire.
    """

    command_prefix: list = []
    sandbox_flags: tuple | None = None

    def format_kernel_cmd(self, extra_arguments=None):
        # Called just after the connection file is written: hand the IPC folder to the sandbox's uid.
        if self.sandbox_flags is not None:
            bwrap.prepare_run_dir(os.path.dirname(self.connection_file), self.sandbox_flags)
        return list(self.command_prefix) + [sys.executable, "-m", "ipykernel_launcher", "-f",
                                            os.path.realpath(self.connection_file)]

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # larger messages never reach Python
        return kc


def run_notebook(nb, options: dict, hidden: list[str] = ()):
    """Execute ``nb`` (in place) in a contained kernel. Returns ``(status, message, info)``.

    ``hidden``: more paths the kernel must not see (the submissions folder, ``OUT``).
    ``status`` is ``"ok"`` when every cell ran (errors in cells are allowed and recorded), else
    ``"timeout"``, ``"oom"`` or ``"crash"``; ``info`` has the index of the cell that was running
    when it stopped (``stopped_at``) and the peak memory.
    """
    flags = sandbox_flags(options)
    exposed = cluster.exposed_by_network(options)  # the grader's own services must stay out of reach
    if exposed:
        raise SandboxUnavailable(exposed)
    workdir = bwrap.WORKDIR if flags is not None else tempfile.mkdtemp(prefix="grader-work-")
    env = kernel_env(options, workdir)
    began = time.monotonic()
    template = kernel_template(options, env, list(hidden), flags)
    timing = {"template_s": time.monotonic() - began}  # > 0 only where this notebook started it
    run_dir = template.new_job_dir() if template else tempfile.mkdtemp(prefix="grader-run-")
    km = ContainedKernelManager(kernel_name="python3", transport="ipc",
                                connection_file=os.path.join(run_dir, "kernel.json"))
    km.ip = os.path.join(run_dir, "ipc")
    km.sandbox_flags = flags
    if template is not None:
        km.kernel_id = str(uuid.uuid4())
        km.provisioner = forked_kernel.ForkedProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec,
                                                         parent=km)
        km.provisioner.template = template
    nproc = options.get("max_processes", MAX_PROCESSES) + 64 if flags and "drop-uid" in flags else 0
    limits = [sys.executable, "-I", "-c", LIMITS_WRAPPER, str(options["address_space_mb"] * 2**20),
              str(options["file_size_mb"] * 2**20), str(nproc)]
    # The kernel's own stdout/stderr carry nothing for the grader ("To connect another client ...").
    launch_args, options_file = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}, None
    if template is not None:
        pass  # the template's fork sets limits, environment and namespaces itself
    elif flags is not None:
        launcher, args = bwrap.launch(run_dir, env, bwrap.hidden_paths(list(hidden)), options, flags)
        options_file = bwrap.args_file(args)  # not on the command line: the kernel can read that
        launch_args["pass_fds"] = (options_file.fileno(),)
        km.command_prefix = launcher + ["--args", str(options_file.fileno()), "--"] + limits
    else:
        km.command_prefix = limits
    client = CappedClient(nb, km=km, timeout=options["cell_timeout"], interrupt_on_timeout=False,
                          allow_errors=True, record_timing=False, shutdown_kernel="immediate",
                          startup_timeout=options.get("startup_timeout", 120), iopub_timeout=10)
    client.max_cell_output_bytes = options["max_cell_output_bytes"]
    status, message, info = Status.OK, "", {"stopped_at": None, "timing": timing}
    watchdog = None
    try:
        began = time.monotonic()
        run_sync(km.start_kernel)(cwd="/" if flags is not None else workdir, env=env, **launch_args)
        if options_file is not None:
            options_file.close()
        pgid = km.provisioner.process.pid  # start_new_session: the launcher leads its own group
        watchdog = Watchdog(pgid, options["notebook_timeout"], options["cell_timeout"] + 15,
                            options["memory_mb"] * 2**20, options.get("max_processes", MAX_PROCESSES),
                            run_dir=run_dir, scratch=flags is not None)
        watchdog.start()

        def started(cell, cell_index, **_):
            watchdog.cell_started, watchdog.cell_index = time.monotonic(), cell_index
            timing.setdefault("kernel_start_s", watchdog.cell_started - began)

        def finished(cell, cell_index, **_):
            watchdog.cell_started = None

        client.on_cell_execute, client.on_cell_executed = started, finished
        client.execute()
    except CellTimeoutError:
        status, message = Status.TIMEOUT, f"a cell ran past its time limit ({options['cell_timeout']} s)"
    except DeadKernelError:
        status, message = Status.CRASH, "the kernel died (the code crashed or exited the process)"
    except RuntimeError as error:  # e.g. the kernel never started
        status, message = Status.CRASH, f"the kernel could not run the notebook ({error})"
    finally:
        timing["cells_s"] = time.monotonic() - began - timing.get("kernel_start_s", 0.0)
        if watchdog is not None:
            watchdog.stop()
            info["stopped_at"] = watchdog.cell_index if (status != Status.OK or watchdog.reason) else None
            info["peak_rss_mb"] = watchdog.peak_rss // 2**20
            if watchdog.reason:  # the watchdog's reason is the real one (it caused the death)
                status, message = watchdog.reason
            kill_tree(watchdog.pgid)
            _reap(km)
            if template is not None:
                info["template_peak_rss_mb"] = template.peak_memory_mib()
        try:
            client.kc.stop_channels() if client.kc is not None else None  # the kernel is dead already
        except Exception:  # noqa: BLE001 - the kernel is already killed; nothing to save
            pass
        try:
            run_sync(km.cleanup_resources)()
        except Exception:  # noqa: BLE001
            pass
        if options_file is not None:
            options_file.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        if flags is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return status, message, info


def _reap(km):
    """Wait for the killed kernel, so it does not linger as a zombie of this worker."""
    process = getattr(km.provisioner, "process", None) if km.provisioner is not None else None
    try:
        if process is not None:
            process.wait(timeout=10)
    except Exception:  # noqa: BLE001 - best effort; the worker exits eventually anyway
        pass
