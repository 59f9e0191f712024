"""The kernel template ("zygote"): imports the heavy libraries and loads the model once, then forks
one fresh, contained kernel per submission.

This file runs *inside* a bubblewrap sandbox (``grader.forked_kernel`` starts it with
``python -I -c <this file's text>``), where the ``grader`` package is hidden: it imports only the
standard library and what it preloads. The sandbox gives it the same read-only world as a kernel
(``grader.bwrap``) plus three capabilities inside its own user namespace (``CAP_SYS_ADMIN``,
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
the connection first, the job is killed.
"""
import ctypes
import json
import os
import resource
import select
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL, CAP_VERSION_3, CAP_LAST = 4, 0x20080522, 63
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")  # what bubblewrap's --dev offers too
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
REAPER = """\
import os, sys
kernel = int(sys.argv[1])
while True:
    pid, status = os.wait()
    if pid == kernel:
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""

# System V shared memory a kernel detaches from stays allocated and belongs to no process, so the
# watchdog could not count it: kernels may not create any (seccomp; no lesson uses it). Also run by
# fresh kernels (grader.sandbox's wrapper), hence plain text that needs only the standard library.
NO_SYSV_SHM = """\
import ctypes, platform, struct
def _forbid_sysv_shm():
    arch, shmget = {"x86_64": (0xC000003E, 29), "aarch64": (0xC00000B7, 194)}.get(platform.machine(), (None, None))
    if arch is None:
        return
    deny, allow = 0x00050000 | 1, 0x7FFF0000   # SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_ALLOW
    program = [(0x20, 0, 0, 4), (0x15, 1, 0, arch), (0x06, 0, 0, deny), (0x20, 0, 0, 0),
               (0x15, 2, 0, shmget), (0x15, 1, 0, shmget | 0x40000000), (0x06, 0, 0, allow), (0x06, 0, 0, deny)]
    filters = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))
    fprog = struct.pack("HL", len(program), ctypes.addressof(filters))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(38, 1, 0, 0, 0)   # PR_SET_NO_NEW_PRIVS, which a filter needs
    if libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) != 0:   # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "seccomp")
_forbid_sysv_shm()
"""

libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                     data and data.encode()), f"mount {target}")


def preload(model_warmup: bool):
    """Import what every lesson's setup cell imports, and load the tokenizer and PyTorch model.

    TensorFlow is imported but runs no operation here: its thread pools would not survive fork.
    """
    for name in ("course_utils", "torch", "transformers", "tensorflow", "numpy", "pandas",
                 "matplotlib.pyplot", "ipykernel.kernelapp", "ipywidgets"):
        try:
            __import__(name)
        except ImportError:
            pass
    if model_warmup:
        import course_utils

        course_utils.load_tokenizer()
        if "torch" in sys.modules:
            course_utils.load_model("pt")


def drop_capabilities():
    for cap in range(CAP_LAST + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last capability
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    header = struct.pack("Ii", CAP_VERSION_3, 0)
    check(libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(bytes(24))), "capset")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        import fcntl

        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def fresh_dev(shm_bytes: int):
    """A new ``/dev`` over the template's: the device nodes a kernel uses, bound from the
    template's, the usual links, a size-capped ``/dev/shm`` of this job's, and nothing writable
    but that (the tmpfs under it is remounted read-only), so nothing one job leaves in ``/dev``
    reaches the next."""
    nodes = {}
    for name in DEVICES:
        try:
            nodes[name] = os.open(f"/dev/{name}", os.O_PATH)
        except OSError:
            continue
    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=755")
    for name, fd in nodes.items():
        os.close(os.open(f"/dev/{name}", os.O_CREAT | os.O_WRONLY, 0o666))  # the mount point
        mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND)
        os.close(fd)
    for name, target in DEV_LINKS.items():
        os.symlink(target, f"/dev/{name}")
    for name in ("shm", "pts"):
        os.mkdir(f"/dev/{name}", 0o755)
    mount(None, "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=755")
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={shm_bytes},mode=1777")


def close_inherited(keep: set[int]):
    """Close every descriptor of the template's (its log, libraries' files) but ``keep``."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the descriptor listdir itself had open


def isolate(job: dict):
    """In C2 (PID 1 of the new namespaces): the kernel's filesystem view, then no privileges.

    A new ``/tmp`` covers everything the template's sandbox had under it, so three kinds of
    folder are put back, as bubblewrap had them: the job's IPC folder (writable), what the kernel
    must read that lies under ``/tmp`` (a virtual environment, a checkout: read-only, with what is
    hidden inside them still hidden), and the hidden folders (empty, read-only)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.chdir("/")  # the template's working folder must not stay reachable through /proc/1/cwd
    job_dir = os.open(job["job_dir"], os.O_PATH | os.O_DIRECTORY)
    needed = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in job.get("needed_in_tmp", [])}
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={job['tmp_bytes']},mode=1777")
    fresh_dev(job["shm_bytes"])
    hidden = [path for path in job.get("hidden_in_tmp", []) if path not in needed]
    for path in hidden:
        os.makedirs(path, exist_ok=True)
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    for path, fd in needed.items():
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)  # with what hides parts of it
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    for path in hidden:
        mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    os.makedirs(job["job_dir"], exist_ok=True)
    mount(f"/proc/self/fd/{job_dir}", job["job_dir"], None, MS_BIND)
    os.close(job_dir)
    os.makedirs(job["cwd"], exist_ok=True)
    os.chdir(job["cwd"])  # the fresh one: the reaper (PID 1) shows it as its working folder
    # Read-only, like the only proc mount a user namespace may add beside the host's.
    mount("proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if job.get("isolate_network", True):
        loopback_up()
    drop_capabilities()


def become_kernel(job: dict):
    """In C3: limits, a fresh interpreter's environment and random state, then the kernel."""
    as_bytes, fsize_bytes, nproc = job["limits"]
    resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_bytes, fsize_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    exec(NO_SYSV_SHM, {})  # noqa: S102 - the text above
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
            print(f"zygote: the job could not start: {error!r}", file=sys.stderr, flush=True)
        os._exit(70)
    os.close(write_fd)
    with os.fdopen(read_fd) as report:
        line = report.readline().strip()
    return c1, int(line) if line else None


def serve(socket_path: str):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(1)
    while True:
        conn, _ = listener.accept()
        with conn:
            reader = conn.makefile("r")
            line = reader.readline()
            if not line:
                continue
            job = json.loads(line)
            if job.get("ping"):
                conn.sendall(b'{"ready": true}\n')
                continue
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


def main():
    socket_path, settings = sys.argv[1], json.loads(sys.argv[2])
    sys.dont_write_bytecode = True
    os.chdir(settings["cwd"])
    preload(settings.get("warm_model", True))
    serve(socket_path)


if __name__ == "__main__":
    main()
