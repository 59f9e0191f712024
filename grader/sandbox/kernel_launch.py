"""Starting a notebook's kernel: two launchers, fresh and forked, from one ``KernelSpec``.

``launch_fresh`` starts a new interpreter: bubblewrap (``grader.sandbox.bwrap``, its options on a file
descriptor), then the limits wrapper (``python -I``: nothing in its working directory or
environment can be imported into it), which sets the kernel's limits on itself and becomes the
kernel. ``launch_forked`` asks this worker's warm template (``grader.sandbox.forked_kernel``) for a fork,
which sets the very same limits with the very same code (``grader.sandbox.kernel_limits``). Both take the
limits from ``KernelSpec.limits`` (``GradingOptions.kernel_limits``): one place.
"""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Any, DottedObjectName, List, Type

from grader.sandbox import bwrap, forked_kernel, kernel_limits
from grader.sandbox.capped_client import MAX_MESSAGE_BYTES
from grader.options import GradingOptions

# The fresh kernel's launch program: the limits (``kernel_limits.py``'s text), then death with
# whoever started it, then the kernel (limits survive execve).
WRAPPER_TAIL = """
import ctypes, os, signal, sys
set_kernel_limits(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
try:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with whoever started us
except Exception:
    pass
os.execv(sys.argv[4], sys.argv[4:])
"""
LIMITS_WRAPPER = Path(__file__).with_name("kernel_limits.py").read_text() + WRAPPER_TAIL
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # "To connect another client ..."

TEMPLATE_FAILED: list[str] = []  # why this worker's kernel template could not start, once it failed


@dataclass
class KernelSpec:
    """One kernel to start: its options, sandbox variant (``flags``, ``None`` unsandboxed), the
    paths it must not see, its environment, working folder and IPC folder, and the template it
    is forked from (``None``: a fresh interpreter)."""

    options: GradingOptions
    flags: tuple[str, ...] | None
    hidden: list[str]
    env: dict
    workdir: str
    run_dir: str
    template: forked_kernel.KernelTemplate | None = None

    @property
    def limits(self) -> list[int]:
        return self.options.kernel_limits(own_host_uid=self.flags is not None and "drop-uid" in self.flags)


@dataclass
class Launched:
    """A kernel manager ready to start, what ``start_kernel`` needs, and what the run attaches."""

    km: ContainedKernelManager
    launch_args: dict = field(default_factory=lambda: dict(QUIET))
    options_file: object = None      # bwrap's options, passed on a descriptor (fresh kernels)
    watchdog: object = None          # set once the kernel runs
    began: float = 0.0

    def close_options_file(self):
        if self.options_file is not None:
            self.options_file.close()


class ReadyClient(AsyncKernelClient):
    """jupyter_client's client, ready as soon as the kernel answers on both channels.

    Its own ``wait_for_ready`` ends by waiting 0.2 s for IOPub to fall silent: half of a forked
    kernel's start, in every job. The messages that wait would drain are the kernel's status
    replies to ``kernel_info``; nbclient reads only the messages a cell's request caused.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The client connects before a forked kernel has bound its sockets, and ZMQ retries a
        # refused connection every 100 ms by default: up to 0.1 s of every job. Every 5 ms here
        # (the context's default, for the sockets this client creates: its context is its own).
        self.context.setsockopt(zmq.RECONNECT_IVL, 5)

    async def _ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except queue.Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:  # IOPub is connected once the kernel's status for that request arrives
                    await self.iopub_channel.get_msg(timeout=0.2)
                except queue.Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    wait_for_ready = _ready


class ForkedProvisioner(LocalProvisioner):
    """A provisioner whose kernels are forks of ``template`` rather than new processes, with the
    ``limits`` of every kernel (``GradingOptions.kernel_limits``)."""

    template = Any(None, help="the KernelTemplate the kernels are forked from")
    limits = List(help="[RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NPROC or 0], as a fresh kernel sets them")
    hidden = List(help="the batch's own paths, hidden from the kernel (batch_paths)")

    async def launch_kernel(self, cmd, **kwargs):
        self.process = self.template.spawn(self.parent.connection_file, kwargs.get("env") or {}, self.limits,
                                           self.hidden)
        self.pid = self.pgid = self.process.pid
        self.cwd = bwrap.WORKDIR
        return self.connection_info


class ContainedKernelManager(AsyncKernelManager):
    """A kernel manager whose launch command is wrapped in the sandbox and the limits.

    Asynchronous on purpose: with a blocking manager nbclient gets a blocking client, whose
    message polls stall its event loop, so a dead kernel is never noticed and timeouts never fire.
    """

    client_class = DottedObjectName("grader.sandbox.kernel_launch.ReadyClient")
    client_factory = Type(ReadyClient, klass=AsyncKernelClient)
    command_prefix = List(help="the sandbox and limits wrapper the kernel's command runs under")
    sandbox_flags = Any(None, help="the bwrap variant (grader.sandbox.bwrap.probe), None unsandboxed")

    def format_kernel_cmd(self, extra_arguments=None):
        # Called just after the connection file is written: hand the IPC folder to the sandbox's uid.
        if self.sandbox_flags is not None:
            bwrap.prepare_run_dir(os.path.dirname(self.connection_file), self.sandbox_flags)
        # ``-c``: the kernel's audit hook first (kernel_limits.install_audit_hook), then ipykernel.
        return list(self.command_prefix) + [sys.executable, "-c", kernel_limits.kernel_boot_program(), "-f",
                                            os.path.realpath(self.connection_file)]

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # larger messages never reach Python
        return kc


def _manager(spec: KernelSpec, command_prefix: list[str] = ()) -> ContainedKernelManager:
    """The kernel's manager, talking to it over Unix sockets in its IPC folder."""
    return ContainedKernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(spec.run_dir, "ipc"),
                                  connection_file=os.path.join(spec.run_dir, "kernel.json"),
                                  sandbox_flags=spec.flags, command_prefix=list(command_prefix))


def launch_fresh(spec: KernelSpec) -> Launched:
    """A new interpreter, in bubblewrap when sandboxed, under the limits wrapper."""
    limits = [sys.executable, "-I", "-c", LIMITS_WRAPPER, *map(str, spec.limits)]
    if spec.flags is None:
        return Launched(_manager(spec, limits))
    launcher, args = bwrap.launch(spec.run_dir, spec.env, bwrap.hidden_paths(spec.hidden), spec.options, spec.flags)
    options_file = bwrap.args_file(args)  # not on the command line: the kernel can read that
    prefix = launcher + ["--args", str(options_file.fileno()), "--"] + limits
    return Launched(_manager(spec, prefix), {**QUIET, "pass_fds": (options_file.fileno(),)}, options_file)


def launch_forked(spec: KernelSpec) -> Launched:
    """A fork of this worker's template, which builds the kernel's namespaces and limits itself."""
    km = _manager(spec)
    km.kernel_id = str(uuid.uuid4())
    km.provisioner = ForkedProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km,
                                       template=spec.template, limits=spec.limits, hidden=batch_paths(spec.hidden))
    return Launched(km)


def batch_paths(extra: list[str]) -> list[str]:
    """Real paths of a batch's own folders (its submissions, ``OUT``), parents first: a forked
    kernel hides them itself (``fork_isolation.hide_batch_paths``), since its template serves
    every batch of the process that started it."""
    real = {os.path.realpath(path) for path in extra}
    return sorted(real - {"/", "/tmp"}, key=lambda p: (p.count("/"), p))


def kernel_template(options: GradingOptions, env: dict, flags, wait: bool = True):
    """This worker's warm kernel template, or ``None`` for a fresh kernel per notebook. It hides
    what every kernel must not see; each fork hides its batch's own paths besides (``spawn``).

    Templates need the sandbox (their forks build their namespaces inside it); ``kernel="fresh"``
    asks for a new interpreter per notebook. A template that cannot start here is reported once
    on stderr, and grading goes on with fresh kernels."""
    if flags is None or options.kernel != "fork" or TEMPLATE_FAILED:
        return None
    try:
        return forked_kernel.template_for(options, env, bwrap.hidden_paths(), flags, wait=wait)
    except forked_kernel.TemplateUnavailable as error:
        print(f"grader: {error}; starting a fresh kernel for each notebook instead", file=sys.stderr)
        TEMPLATE_FAILED.append(str(error))
        return None


def reap(km):
    """Wait for the killed kernel, so it does not linger as a zombie of this worker."""
    process = getattr(km.provisioner, "process", None) if km.provisioner is not None else None
    try:
        if process is not None:
            process.wait(timeout=10)
    except Exception:  # noqa: BLE001 - best effort; the worker exits eventually anyway
        pass
