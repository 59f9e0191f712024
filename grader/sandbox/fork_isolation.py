"""How a forked kernel gets what bubblewrap gives a fresh one: the system calls its PID 1 makes.

``isolate(job)`` runs in each fork's ``C2`` (``grader.sandbox.template_server``), inside new mount, PID,
network, IPC and UTS namespaces and before any student code: a fresh size-capped ``/tmp`` and
``/dev/shm``, a fresh read-only ``/dev``, the batch's own folders hidden, the job's IPC folder bound
back, a ``/proc`` of its own,
loopback up, every inherited descriptor closed, every capability dropped and ``no_new_privs``.

Like ``grader/sandbox/kernel_limits.py``, this file runs as *text* inside the template's sandbox, where the
``grader`` package is hidden (``grader.sandbox.forked_kernel`` puts it before the server's text): the
standard library only, and no ``from __future__``.
"""
import ctypes
import os
import socket
import struct

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL, CAP_VERSION_3, CAP_LAST = 4, 0x20080522, 63
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")  # what bubblewrap's --dev offers too
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}

libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                     data and data.encode()), f"mount {target}")


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


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _hide(path: str, emptied: list):
    """A folder emptied (a tmpfs, made read-only by the caller; under the fresh /tmp it is made
    first, as bubblewrap shows a hidden folder there), a file made /dev/null."""
    if not os.path.lexists(path):
        try:
            os.makedirs(path)
        except OSError:  # inside a folder hidden already (empty, read-only): nothing of it shows
            return
    if os.path.isdir(path) and not os.path.islink(path):
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=755")
        emptied.append(path)
    elif not os.path.isdir(path):
        mount("/dev/null", path, None, MS_BIND)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def hide_batch_paths(hidden: list, needed: list):
    """Hide the batch's own paths (its submissions and ``OUT``): the template serves every batch
    of its process, so they are hidden here, per job, as bubblewrap hides them for a fresh kernel
    (``grader.sandbox.bwrap.mounts``): each folder emptied and read-only, each file /dev/null, a
    ``needed`` path inside one bound back, and a hidden path inside that hidden again. Paths this
    view does not show outside /tmp (hidden by the template's sandbox) are left be."""
    present = [path for path in hidden if os.path.lexists(path) or _under(path, "/tmp")]
    top = [path for path in present if not any(path != q and _under(path, q) for q in present)]
    back = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in needed
            if os.path.isdir(path) and any(_under(path, h) for h in top)}
    emptied = []
    for path in top:
        _hide(path, emptied)
    for path, fd in back.items():
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    for path in present:
        if any(path != b and _under(path, b) for b in back):
            _hide(path, emptied)
    for path in emptied:
        mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")


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
    hide_batch_paths(job.get("batch_hidden", []), job.get("needed", []))
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
