"""Kernels forked from a warm template: the heavy imports and the model load happen once per machine.

A fresh kernel spends most of a lesson's time importing torch, TensorFlow and transformers and
loading the model again. ``KernelTemplate`` starts ``grader/sandbox/template_server.py`` in a
bubblewrap sandbox built like every kernel's (``grader.sandbox.bwrap``, ``template=True``), and asks
it for one forked kernel per submission. Each fork gets namespaces, a scratch ``/tmp``, limits and a
dropped privilege set of its own before any student code runs (the server's docstring lists
them), so two submissions share nothing but read-only memory pages.

One template serves a whole machine: the coordinator starts it (and keeps it for its later
batches: ``machine_template``), and the workers on its machine
(the local pool's, a local Dask cluster's) attach to it (``KernelTemplate.attachment``, ``share``)
and fork from it at once, each kernel in a session of its own. A worker whose shared template is
gone, or that nobody shared one with (a remote Dask worker), starts a template of its own
(``template_for``).

``kernel_launch.ForkedProvisioner`` plugs that into jupyter_client: ``KernelManager.start_kernel``
then asks the template instead of starting a process, and gets back ``ForkedProcess``, which stands for the
kernel's PID-namespace leader (poll, wait, kill, signals), so nbclient and the watchdog treat it
exactly as they treat a fresh kernel's launcher.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.sandbox import bwrap
from grader.sandbox.forked_process import ForkedProcess
from grader.options import GradingOptions

# The template's program, run as text in its sandbox (the grader package is hidden there): the
# limits every kernel sets (a fresh one runs the same file), the fork's isolation, then the server.
SERVER_PARTS = ("kernel_limits.py", "fork_isolation.py", "template_server.py")
START_TIMEOUT = 180  # s; importing torch, TensorFlow and transformers on a busy machine


class TemplateUnavailable(RuntimeError):
    """The kernel template could not start here; the message says why (its own log included)."""


class KernelTemplate:
    """One warm template; ``spawn`` forks a kernel from it. The process that starts it owns it
    (and closes it); other processes of the machine attach to it (``attachment``, ``attach``)."""

    def __init__(self, options: GradingOptions, env: dict, hidden: list[str], flags: tuple[str, ...]):
        self.options, self.flags, self.owner = options, flags, True
        self.key = template_key(options, env, hidden, flags)
        # Each fork mounts a new /tmp: the hidden folders that lay under the old one come back
        # empty and read-only, as in a fresh kernel's sandbox.
        in_tmp = [path for path in hidden if path.startswith("/tmp/") and os.path.isdir(path)]
        self.hidden_in_tmp = [p for p in in_tmp if not any(p.startswith(q.rstrip("/") + "/") for q in in_tmp)]
        self.needed = bwrap.needed_paths(options.model)
        self.needed_in_tmp = [p for p in self.needed if p.startswith("/tmp/")]
        self.root = tempfile.mkdtemp(prefix="grader-template-")
        self.socket_path = os.path.join(self.root, "template.sock")
        self.log_path = os.path.join(self.root, "template.log")  # the template's stdout and stderr
        bwrap.prepare_run_dir(self.root, flags)
        launcher, args = bwrap.launch(self.root, env, hidden, options, flags, template=True)
        options_file = bwrap.args_file(args)
        settings = {"cwd": bwrap.WORKDIR, "warm_model": True}
        command = launcher + ["--args", str(options_file.fileno()), "--", sys.executable, "-I", "-c",
                              server_program(), self.socket_path, json.dumps(settings)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, pass_fds=(options_file.fileno(),), cwd="/",
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)
        options_file.close()
        self.pid, self.ready = self.process.pid, False

    def attachment(self) -> dict:
        """What another process of this machine needs to fork kernels from this template."""
        return {"key": self.key, "pid": self.pid, "root": self.root, "options": self.options.to_dict(),
                "flags": list(self.flags), "hidden_in_tmp": self.hidden_in_tmp, "needed_in_tmp": self.needed_in_tmp,
                "needed": self.needed}

    @classmethod
    def attach(cls, attachment: dict) -> "KernelTemplate":
        """The template another process of this machine started (``attachment()``); closing it
        here leaves it running."""
        template = cls.__new__(cls)
        template.options = GradingOptions.from_dict(attachment["options"])
        template.flags, template.owner, template.process = tuple(attachment["flags"]), False, None
        for name in ("key", "pid", "root", "hidden_in_tmp", "needed_in_tmp", "needed"):
            setattr(template, name, attachment[name])
        template.socket_path = os.path.join(template.root, "template.sock")
        template.log_path = os.path.join(template.root, "template.log")
        template.ready = False
        return template

    def wait_ready(self):
        """Block until the template answers (it imports and loads for a few seconds after start)."""
        if self.ready:
            return
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                break
            try:
                with self._connect() as conn:
                    conn.sendall(b'{"ping": true}\n')
                    if b"ready" in conn.recv(64):
                        self.ready = True
                        return
            except OSError:
                time.sleep(0.2)
        why = self.log_tail()
        self.close()
        raise TemplateUnavailable(f"the kernel template did not start: {why}")

    def _connect(self) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.socket_path)
        except OSError:
            conn.close()
            raise
        return conn

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:  # another process's: alive while its bubblewrap launcher is
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def new_job_dir(self) -> str:
        """A fresh IPC folder for the next kernel (inside the folder the template can reach), its
        name unique among every process that forks from this template."""
        return tempfile.mkdtemp(prefix="job-", dir=self.root)

    def spawn(self, connection_file: str, env: dict, limits: list[int], hidden: list[str] = ()) -> ForkedProcess:
        """Fork a kernel that serves ``connection_file`` with environment ``env``, which sets
        ``limits`` on itself (``GradingOptions.kernel_limits``) and does not see ``hidden``, the
        batch's own paths (``kernel_launch.batch_paths``: the template does, as it serves every batch)."""
        job_dir = os.path.dirname(connection_file)
        bwrap.prepare_run_dir(job_dir, self.flags)
        job = {"connection_file": connection_file, "job_dir": job_dir, "cwd": bwrap.WORKDIR, "env": env,
               "limits": list(limits),
               "tmp_bytes": self.options.scratch_mb * 2**20, "shm_bytes": self.options.shm_mb * 2**20,
               "isolate_network": not self.options.network_allowed, "hidden_in_tmp": self.hidden_in_tmp,
               "needed_in_tmp": self.needed_in_tmp, "batch_hidden": list(hidden), "needed": self.needed}
        conn = self._connect()
        conn.sendall((json.dumps(job) + "\n").encode())
        conn.settimeout(60)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                raise RuntimeError(f"the kernel template could not fork a kernel: {self.log_tail()}")
            reply += chunk
        pid = json.loads(reply)["pid"]
        if not pid:
            conn.close()
            raise RuntimeError(f"the kernel template could not fork a kernel: {self.log_tail()}")
        return ForkedProcess(pid, conn)

    def peak_memory_mib(self) -> int:
        """The template's peak resident memory: its server's, the topmost Python process under
        bubblewrap. Its sessions share its pages; the kernels forked from it are counted by their
        own watchdogs, and may be other workers'."""
        from grader.sandbox.watchdog import tree_members

        parents, peaks = {}, {}
        for pid in tree_members(self.pid):
            try:
                if "python" not in os.path.basename(os.readlink(f"/proc/{pid}/exe")):
                    continue
                with open(f"/proc/{pid}/status") as status:
                    fields = dict(line.split(":", 1) for line in status if ":" in line)
                parents[pid] = int(fields["PPid"])
                peaks[pid] = int(fields.get("VmHWM", "0 kB").split()[0])
            except (OSError, ValueError, KeyError):
                continue
        servers = [pid for pid, parent in parents.items() if parent not in parents]
        return max((peaks[pid] for pid in servers), default=0) // 1024

    def log_tail(self) -> str:
        try:
            lines = Path(self.log_path).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:]) or "no log"

    def close(self):
        if not self.owner:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def server_program() -> str:
    """The template's program text (``SERVER_PARTS``, in order)."""
    return "\n".join(Path(__file__).with_name(part).read_text() for part in SERVER_PARTS)


def template_key(options: GradingOptions, env: dict, hidden: list[str], flags: tuple[str, ...]) -> str:
    """What makes two templates interchangeable: the same options, environment, hidden paths and
    sandbox variant."""
    return json.dumps([sorted(options.to_dict().items()), sorted(env.items()), sorted(hidden), list(flags)],
                      default=str)


_templates: dict[str, KernelTemplate] = {}
_shared: dict[str, KernelTemplate] = {}  # the machine's template this process attached to, by key


def share(attachment: dict):
    """Fork this process's kernels from the template another process of this machine started
    (``KernelTemplate.attachment``), for as long as it lives; then from a template of its own."""
    known = _shared.get(attachment["key"])
    if known is None or known.pid != attachment["pid"]:
        _shared.clear()
        _shared[attachment["key"]] = KernelTemplate.attach(attachment)


def template_for(options: GradingOptions, env: dict, hidden: list[str], flags: tuple[str, ...],
                 wait: bool = True) -> KernelTemplate:
    """The template for these settings: the machine's shared one where this process attached to
    it and it lives, else this process's own, started (or restarted, if it died) on demand;
    ``wait=False`` returns as soon as it is starting (a worker's set-up overlaps with it)."""
    key = template_key(options, env, hidden, flags)
    template = _shared.get(key)
    if template is not None and not template.alive():
        print("grader: the machine's kernel template is gone; this worker starts its own", file=sys.stderr)
        del _shared[key]
        template = None
    if template is None:
        template = _alive_or_new(_templates, key, lambda: KernelTemplate(options, env, hidden, flags))
    if wait:
        try:
            template.wait_ready()
        except TemplateUnavailable:
            _templates.pop(key, None)
            _shared.pop(key, None)
            raise
    return template


_machine: dict[str, KernelTemplate] = {}  # the one this process started for the workers of this machine


def machine_template(options: GradingOptions, env: dict, hidden: list[str], flags: tuple[str, ...]) -> KernelTemplate:
    """The machine's template for these settings: started here (not waited for), or the one this
    process started for an earlier batch, while it lives. Its forks hide each batch's own paths
    (``spawn``), so one template serves every batch; this process closes it when it exits, or
    when a batch with other settings needs another."""
    return _alive_or_new(_machine, template_key(options, env, hidden, flags),
                         lambda: KernelTemplate(options, env, hidden, flags))


def _alive_or_new(kept: dict, key: str, start) -> KernelTemplate:
    """``kept``'s template for ``key`` while it lives, else ``start()``'s, then the only one ``kept``
    holds (the others closed: each template holds ~1 GiB)."""
    template = kept.get(key)
    if template is None or not template.alive():
        for old in kept.values():
            old.close()
        kept.clear()
        template = kept[key] = start()
    return template


def running_templates() -> list[KernelTemplate]:
    return [template for template in [*_shared.values(), *_templates.values()] if template.alive()]


@atexit.register
def close_templates():
    for template in [*_templates.values(), *_machine.values()]:
        template.close()
    _templates.clear()
    _machine.clear()
    _shared.clear()
