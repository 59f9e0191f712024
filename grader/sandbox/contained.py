"""Run one notebook in a contained kernel: fresh sandbox, limits, watchdog, capped output.

The containment, from the outside in (``containment()`` reports what is active):

* **bubblewrap** (``grader.sandbox.bwrap``): the kernel sees a read-only filesystem with the submissions,
  ``OUT``, the instructor's sources, homes and other jobs hidden; its only writable places are a
  private size-capped ``/tmp`` (its working directory and ``HOME``) and the IPC folder through
  which it talks to the grader over Unix sockets (``transport="ipc"``); new user, PID, network,
  IPC, UTS and cgroup namespaces; no capabilities; a cleared environment (``kernel_env``). When
  the kernel dies, its PID namespace dies, and every process it started with it. Where bwrap
  cannot run, grading refuses to start (``SandboxUnavailable``) unless the instructor asked for
  ``--unsafe-no-sandbox``;
* resource limits the kernel sets on itself before any student code, fresh or forked alike
  (``grader.sandbox.kernel_launch``, ``grader.sandbox.kernel_limits``): ``RLIMIT_AS`` (high: it counts reserved
  address space), ``RLIMIT_FSIZE``, no core files, ``RLIMIT_NPROC`` where the sandbox has a host
  uid of its own;
* one thread for BLAS/OpenMP/TensorFlow per kernel;
* the watchdog (``grader.sandbox.watchdog``): time, memory, tasks (processes, threads, zombies), files;
* outputs counted and capped while they stream in (``grader.sandbox.capped_client``).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from grader.pipeline import cluster
from grader.sandbox import bwrap, forked_kernel, kernel_launch
from grader.sandbox.capped_client import CappedClient
from grader.sandbox.environment import grading_env
from grader.sandbox.kernel_launch import KernelSpec, Launched
from grader.options import GradingOptions
from grader.pipeline.results import Status
from grader.sandbox.watchdog import Watchdog, kill_tree


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot run here and the instructor did not ask to grade without it."""


@dataclass
class RunOutcome:
    """How a notebook's run ended. ``status``: ``OK`` when every cell ran (errors in cells are
    allowed and recorded), else ``TIMEOUT``, ``OOM`` or ``CRASH``, with ``message``;
    ``stopped_at``: the index of the cell that was running when the run was stopped; peak
    memory (MiB) of the kernel's tree and of its template; ``timing``: where the time went (s)."""

    status: Status = Status.OK
    message: str = ""
    stopped_at: int | None = None
    peak_rss_mib: int | None = None
    template_peak_rss_mib: int | None = None
    timing: dict = field(default_factory=dict)


def sandbox_flags(options: GradingOptions) -> tuple[str, ...] | None:
    """The bwrap variant kernels run under, or ``None`` with ``sandbox="none"`` (unsafe).

    Raises ``SandboxUnavailable`` (saying why) when bwrap is wanted but cannot run."""
    if not options.sandboxed:
        return None
    flags, detail = bwrap.probe()
    if flags is None:
        raise SandboxUnavailable(f"{detail}. Install bubblewrap, or pass --unsafe-no-sandbox to grade "
                                 "without it (only for submissions you trust)")
    return flags


def containment(options: GradingOptions) -> dict:
    """Which layers of containment a kernel started with ``options`` gets on this machine."""
    try:
        flags, unavailable = sandbox_flags(options), None
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
               f"hidden; private /tmp of {options.scratch_mb} MiB; new user/PID/IPC/UTS/cgroup "
               f"namespaces, no capabilities, cleared environment"
               + ("" if "disable-userns" in flags else ", nested user namespaces allowed")
               + (f"; runs as unprivileged host uid {uid}" if uid else ""))
    forked = flags is not None and options.kernel == "fork"
    return {
        "sandbox": box,
        "network": ("blocked: empty network namespace, kernel on Unix sockets"
                    if flags is not None and not options.network_allowed else "NOT blocked"),
        "memory": f"watchdog {options.memory_mb} MiB on the kernel's process tree (resident memory, "
                  f"scratch tmpfs, memfds held open) + RLIMIT_AS {options.address_space_mb} MiB",
        "tasks": f"at most {options.max_processes} processes + threads + zombies",
        "time": f"{options.cell_timeout} s per cell, {options.notebook_timeout} s per notebook, "
                "watchdog kills the process tree",
        "output": f"{options.max_cell_output_bytes // 1024} KiB per cell; display updates and "
                  "widgets dropped; answer records capped",
        "threads": "OPENBLAS/OMP/MKL/TF threads = 1",
        "kernel": ("forked per notebook from a warm template per machine (libraries imported, model loaded "
                   "once; a remote Dask worker has its own); each fork gets its own mount/PID/network/IPC/UTS namespaces, /tmp and limits, and "
                   "drops every capability before the notebook runs" if forked
                   else "a fresh interpreter per notebook"),
    }


def kernel_env(options: GradingOptions, home: str) -> dict:
    """The kernel's whole environment: an allow-list, nothing inherited but ``PASSED_THROUGH``."""
    env = {name: os.environ[name] for name in bwrap.PASSED_THROUGH if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update(grading_env(options.model))  # offline, quiet, one thread: as the judge (grader.sandbox.environment)
    # But the notebook's own figures: with Agg a kernel shows none (the feedback page had no picture).
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env.update({
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home, "TMPDIR": "/tmp" if options.sandboxed else home,
        "COURSE_GRADING": "1", "COURSE_MODEL": options.model,
        "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    if options.model != "course" and not os.path.isdir(options.model):  # the Hugging Face cache, read-only
        env["HF_HUB_CACHE"] = bwrap.model_paths(options.model)[0]
    return env


def start_template(options: GradingOptions):
    """Start this worker's kernel template without waiting for it (a worker's initializer calls
    it, so that the template loads while the worker loads its judge). Never raises."""
    try:
        kernel_launch.kernel_template(options, kernel_env(options, bwrap.WORKDIR), sandbox_flags(options),
                                      wait=False)
    except Exception:  # noqa: BLE001 - the first notebook starts it again and reports why
        pass


def machine_template(options: GradingOptions):
    """The kernel template for every worker of this machine, starting (not waited for) or already
    running: this process keeps it for its next batches too (``forked_kernel.machine_template``);
    ``None`` where kernels are not forked or no template can start here (each worker then finds
    out for itself, and says why). Never raises."""
    try:
        flags = sandbox_flags(options)
        if flags is None or options.kernel != "fork":
            return None
        return forked_kernel.machine_template(options, kernel_env(options, bwrap.WORKDIR), bwrap.hidden_paths(),
                                              flags)
    except Exception:  # noqa: BLE001
        return None


def run_notebook(nb, options: GradingOptions | dict, hidden: list[str] = ()) -> RunOutcome:
    """Execute ``nb`` (in place) in a contained kernel: fresh, or forked from this worker's
    template (``options.kernel``); ``hidden``: more paths the kernel must not see (the
    submissions folder, ``OUT``)."""
    options = GradingOptions.from_dict(options)
    outcome = RunOutcome()
    spec = _kernel_spec(options, list(hidden), outcome.timing)
    launched = kernel_launch.launch_forked(spec) if spec.template else kernel_launch.launch_fresh(spec)
    client = CappedClient(nb, km=launched.km, timeout=options.cell_timeout, interrupt_on_timeout=False,
                          allow_errors=True, record_timing=False, shutdown_kernel="immediate",
                          startup_timeout=options.startup_timeout, iopub_timeout=10,
                          max_cell_output_bytes=options.max_cell_output_bytes)
    try:
        _execute(client, launched, spec, outcome)
    except CellTimeoutError:
        outcome.status, outcome.message = Status.TIMEOUT, f"a cell ran past its time limit ({options.cell_timeout} s)"
    except DeadKernelError:
        outcome.status, outcome.message = Status.CRASH, "the kernel died (the code crashed or exited the process)"
    except RuntimeError as error:  # e.g. the kernel never started
        outcome.status, outcome.message = Status.CRASH, f"the kernel could not run the notebook ({error})"
    finally:
        _finish(outcome, launched, spec, client)
    return outcome


def _kernel_spec(options: GradingOptions, hidden: list[str], timing: dict) -> KernelSpec:
    """What the kernel starts from; its template started (or found warm) here, its time in ``timing``."""
    flags = sandbox_flags(options)
    exposed = cluster.exposed_by_network(options)  # the grader's own services must stay out of reach
    if exposed:
        raise SandboxUnavailable(exposed)
    workdir = bwrap.WORKDIR if flags is not None else tempfile.mkdtemp(prefix="grader-work-")
    env = kernel_env(options, workdir)
    began = time.monotonic()
    template = kernel_launch.kernel_template(options, env, flags)
    timing["template_s"] = time.monotonic() - began  # > 0 only where this notebook started it
    timing["template"] = None if template is None else "machine" if not template.owner else "worker"
    run_dir = template.new_job_dir() if template else tempfile.mkdtemp(prefix="grader-run-")
    return KernelSpec(options, flags, hidden, env, workdir, run_dir, template)


def _execute(client: CappedClient, launched: Launched, spec: KernelSpec, outcome: RunOutcome):
    """Start the kernel, put the watchdog on its tree, run every cell."""
    launched.began = time.monotonic()
    run_sync(launched.km.start_kernel)(cwd="/" if spec.flags is not None else spec.workdir, env=spec.env,
                                       **launched.launch_args)
    launched.close_options_file()
    options = spec.options
    pgid = launched.km.provisioner.process.pid  # start_new_session: the launcher leads its own group
    watchdog = launched.watchdog = Watchdog(pgid, options.notebook_timeout, options.cell_timeout + 15,
                                            options.memory_mb * 2**20, options.max_processes,
                                            run_dir=spec.run_dir, scratch=spec.flags is not None)
    watchdog.start()

    cell_s = outcome.timing.setdefault("cell_s", {})  # {index, as text (JSON's keys): seconds}: the bench's slowest cells

    def started(cell, cell_index, **_):
        outcome.timing.setdefault("kernel_start_s", watchdog.cell_began(cell_index) - launched.began)

    def ended(cell_index, **_):
        cell_s[str(cell_index)] = round(time.monotonic() - watchdog.cell_started, 3)
        watchdog.cell_ended()

    client.on_cell_execute = started
    client.on_cell_executed = ended
    client.execute()


def _finish(outcome: RunOutcome, launched: Launched, spec: KernelSpec, client: CappedClient):
    """The watchdog's word on the run (its reason is the real one: it caused the death), then
    the kernel's tree killed and reaped and its folders removed."""
    timing = outcome.timing
    ended = time.monotonic()
    timing["cells_s"] = ended - launched.began - timing.get("kernel_start_s", 0.0)
    watchdog = launched.watchdog
    if watchdog is not None:
        watchdog.stop()
        outcome.stopped_at = watchdog.cell_index if (outcome.status != Status.OK or watchdog.reason) else None
        outcome.peak_rss_mib = watchdog.peak_rss // 2**20
        if watchdog.reason:
            outcome.status, outcome.message = watchdog.reason
        kill_tree(watchdog.pgid)
        kernel_launch.reap(launched.km)
        if spec.template is not None:
            outcome.template_peak_rss_mib = spec.template.peak_memory_mib()
    try:
        client.kc.stop_channels() if client.kc is not None else None  # the kernel is dead already
    except Exception:  # noqa: BLE001 - the kernel is already killed; nothing to save
        pass
    try:
        run_sync(launched.km.cleanup_resources)()
    except Exception:  # noqa: BLE001
        pass
    launched.close_options_file()
    shutil.rmtree(spec.run_dir, ignore_errors=True)
    if spec.flags is None:
        shutil.rmtree(spec.workdir, ignore_errors=True)
    timing["teardown_s"] = time.monotonic() - ended
