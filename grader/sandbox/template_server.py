"""The kernel template: imports the heavy libraries and loads the model once, then forks one fresh,
contained kernel per submission (what Chromium calls a zygote).

This file runs *inside* a bubblewrap sandbox (``grader.sandbox.forked_kernel`` starts it with
``python -I -c <this file's text>``), where the ``grader`` package is hidden: it imports only the
standard library and what it preloads. The sandbox gives it the same read-only world as a kernel
(``grader.sandbox.bwrap``) plus three capabilities inside its own user namespace (``CAP_SYS_ADMIN``,
``CAP_NET_ADMIN``, ``CAP_SETPCAP``), used only by each fork before it drops them all.

For each request (one JSON line on its Unix socket, from the grader's worker) it forks:

* ``C1`` joins new mount, PID, network, IPC and UTS namespaces, forks ``C2``, reports ``C2``'s pid
  and waits for it (both die with their parent: ``PR_SET_PDEATHSIG``);
* ``C2`` is PID 1 of the new PID namespace and leads its own session: it leaves the template's
  working folder, mounts a fresh size-capped ``/tmp`` (hence the other jobs and this server's
  socket disappear), a fresh read-only ``/dev`` holding only the device nodes a kernel uses and
  a size-capped ``/dev/shm`` of its own, binds the job's IPC folder back, mounts a ``/proc`` of
  its own namespace, brings loopback up, closes every descriptor it inherited from the template,
  then drops every capability (effective, permitted, inheritable, ambient, bounding) and sets
  ``no_new_privs``; it forks the kernel ``C3`` and reaps orphans until the kernel exits, as
  bubblewrap's PID 1 does. Killing ``C2`` kills everything in the namespace, and nothing the
  template holds (its ``/dev``, its working folder, its descriptors) is reachable from it;
* ``C3`` sets its resource limits, environment, working directory and random state to what a
  fresh interpreter would have, and becomes the IPython kernel on the job's connection file.

The reply is ``{"pid": C2's pid}``, then ``{"exit": status}`` when it ends. When the grader closes
the connection first, the job is killed. Each request is served by a session process of its own
(``start_session``), so the workers of one machine share one template and fork from it at once.
"""
import json
import os
import select
import signal
import socket
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
PR_SET_PDEATHSIG = 1
REAPER = """\
import os, sys
kernel = int(sys.argv[1])
while True:
    pid, status = os.wait()
    if pid == kernel:
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


# Run as text in the sandbox (the grader package hidden), this program comes after the texts of
# grader/sandbox/kernel_limits.py and grader/sandbox/fork_isolation.py (grader.sandbox.forked_kernel puts them first): a
# forked kernel sets its limits with the very code a fresh one runs. Imported (tests): from there.
if "isolate" not in globals():
    from grader.sandbox.fork_isolation import check, close_inherited, isolate, libc
    from grader.sandbox.kernel_limits import install_audit_hook, set_kernel_limits


def preload(model_warmup: bool):
    """Import what every lesson's setup cell imports, load the tokenizer and PyTorch model, and read
    the TensorFlow model's weights (``course_utils.tf_gpt2_weights``).

    TensorFlow is imported but runs no operation here: its thread pools would not survive fork.
    """
    for name in ("course_utils", "torch", "transformers", "tensorflow", "numpy", "pandas",
                 "matplotlib.pyplot", "ipykernel.kernelapp",
                 "ipykernel.debugger", "ipywidgets"):  # the debugger: imported by each kernel's start
        try:
            __import__(name)
        except ImportError:
            pass
    if model_warmup:
        import course_utils

        course_utils.load_tokenizer()
        if "torch" in sys.modules:
            course_utils.load_model("pt")
        if "tensorflow" in sys.modules:  # its arrays only: each fork's TensorFlow model wraps them
            course_utils.loading.read_tf_weights_ahead()


def become_kernel(job: dict):
    """In C3: limits, a fresh interpreter's environment and random state, then the kernel."""
    set_kernel_limits(*job["limits"])   # GradingOptions.kernel_limits, as a fresh kernel's
    os.environ.clear()
    os.environ.update(job["env"])
    os.chdir(job["cwd"])
    sys.path.insert(0, job["cwd"])  # ``python -m ipykernel_launcher`` puts the working directory first
    # Every fork would otherwise draw the template's random numbers: seed from the OS's entropy,
    # as a fresh interpreter does (Python's ``random`` reseeds itself after fork).
    if "torch" in sys.modules:
        sys.modules["torch"].seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    sys.argv = ["ipykernel_launcher", "-f", job["connection_file"]]
    install_audit_hook()   # before any student code: the evidence course_utils.checking.graded_cell reads
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def pid1(job: dict, report_fd: int):
    """C2: isolate, start the kernel, reap every orphan; exit with the kernel's status."""
    os.setsid()
    isolate(job)
    # From here on nothing in the namespace holds the template's log: what a kernel prints on its
    # own descriptors goes nowhere (the grader reads it from the kernel's messages, capped).
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    close_inherited({report_fd})
    kernel = os.fork()
    if kernel == 0:
        code = 1
        try:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            os.close(report_fd)
            become_kernel(job)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        finally:
            os._exit(code)
    os.close(report_fd)
    # Become a small reaper, so that this copy of the template does not count twice in the
    # watchdog's memory total (it sums the namespace's processes).
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", REAPER, str(kernel)])


def run_job(job: dict, listener, conn):
    """Fork C1 for ``job``; return ``(C1's pid, C2's pid)``."""
    read_fd, write_fd = os.pipe()
    c1 = os.fork()
    if c1 == 0:
        try:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            listener.close()
            conn.close()
            os.close(read_fd)
            flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
            if job.get("isolate_network", True):
                flags |= CLONE_NEWNET
            check(libc.unshare(flags), "unshare")
            c2 = os.fork()
            if c2 == 0:
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                pid1(job, write_fd)
            os.write(write_fd, f"{c2}\n".encode())
            os.close(write_fd)
            _, status = os.waitpid(c2, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        except BaseException as error:  # noqa: BLE001 - tell the grader, never return into the loop
            print(f"template: the job could not start: {error!r}", file=sys.stderr, flush=True)
        os._exit(70)
    os.close(write_fd)
    with os.fdopen(read_fd) as report:
        line = report.readline().strip()
    return c1, int(line) if line else None


def watch_job(job: dict, listener, conn):
    """Run ``job`` and tell its grader how it ended (in a session process of its own)."""
    c1, c2 = run_job(job, listener, conn)
    conn.sendall((json.dumps({"pid": c2}) + "\n").encode())
    watched = os.pidfd_open(c1)
    try:
        while True:
            ready, _, _ = select.select([conn, watched], [], [])
            if watched in ready:
                break
            if not conn.recv(1, socket.MSG_PEEK):  # the grader is gone or gave up
                if c2:
                    os.kill(c2, signal.SIGKILL)
                break
            conn.recv(4096)
        _, status = os.waitpid(c1, 0)
    finally:
        os.close(watched)
    try:
        conn.sendall((json.dumps({"exit": os.waitstatus_to_exitcode(status)}) + "\n").encode())
    except OSError:
        pass


def start_session(job: dict, listener, conn):
    """Fork a session process that runs ``job`` while this loop goes on serving: the workers of a
    machine share one template, so several kernels run from it at once. The session dies with
    the template, and its kernel with it (``PR_SET_PDEATHSIG`` down the chain)."""
    if os.fork() != 0:
        return
    code = 0
    try:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        listener.close()
        watch_job(job, listener, conn)
    except BaseException as error:  # noqa: BLE001 - never return into the server's loop
        print(f"template: a job's session failed: {error!r}", file=sys.stderr, flush=True)
        code = 70
    finally:
        os._exit(code)


def reap_sessions():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(socket_path: str):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    while True:
        readable, _, _ = select.select([listener], [], [], 1.0)
        reap_sessions()
        if not readable:
            continue
        conn, _ = listener.accept()
        with conn:
            line = conn.makefile("r").readline()
            if not line:
                continue
            job = json.loads(line)
            if job.get("ping"):
                conn.sendall(b'{"ready": true}\n')
                continue
            start_session(job, listener, conn)


def main():
    socket_path, settings = sys.argv[1], json.loads(sys.argv[2])
    sys.dont_write_bytecode = True
    os.chdir(settings["cwd"])
    preload(settings.get("warm_model", True))
    serve(socket_path)


if __name__ == "__main__":
    main()
