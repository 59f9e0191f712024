"""The limits every kernel sets on itself before any student code runs, fresh or forked: one place.

``set_kernel_limits(address_space, file_size, nproc)`` (the numbers: ``GradingOptions.kernel_limits``)
sets ``RLIMIT_AS``, ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE`` (``MAX_OPEN_FILES``), no core files,
``RLIMIT_NPROC`` when given, and forbids
System V shared memory (seccomp): memory a kernel detaches from stays allocated and belongs to no
process, so the watchdog could not count it (no lesson uses it). ``install_audit_hook`` is the
kernel's audit hook (``course_utils.checking.graded_cell`` reads it), set by the same two callers
right before the kernel starts.

This file runs as *text* inside the sandbox, where the ``grader`` package is hidden: a fresh
kernel's launch command is ``python -I -c <this text + WRAPPER_TAIL>`` (``grader.sandbox.contained``), and
the kernel template's program is this text followed by ``grader/sandbox/template_server.py``'s
(``grader.sandbox.forked_kernel``). Hence the standard library only, and no ``from __future__``.
"""
import ctypes
import platform
import resource
import struct

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
SECCOMP_DENY, SECCOMP_ALLOW = 0x00050000 | 1, 0x7FFF0000   # SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_ALLOW
SHMGET = {"x86_64": (0xC000003E, 29), "aarch64": (0xC00000B7, 194)}   # (audit arch, syscall number)


def forbid_sysv_shm():
    """A seccomp filter that makes ``shmget`` fail with EPERM (both ABIs of the architecture)."""
    arch, shmget = SHMGET.get(platform.machine(), (None, None))
    if arch is None:
        return
    program = [(0x20, 0, 0, 4), (0x15, 1, 0, arch), (0x06, 0, 0, SECCOMP_DENY), (0x20, 0, 0, 0),
               (0x15, 2, 0, shmget), (0x15, 1, 0, shmget | 0x40000000), (0x06, 0, 0, SECCOMP_ALLOW),
               (0x06, 0, 0, SECCOMP_DENY)]
    filters = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))
    fprog = struct.pack("HL", len(program), ctypes.addressof(filters))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)   # which a filter needs
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_char_p(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")


MAX_OPEN_FILES = 1024   # RLIMIT_NOFILE: each socket pair may pin megabytes of kernel memory (SO_SNDBUF)
def install_audit_hook():
    """A PEP 578 audit hook, set before any student code and never removable from Python: it
    counts the calls of ``sys.settrace`` / ``sys.setprofile`` (CPython raises those events itself,
    whichever name the function is called by, and for ``threading``'s and cProfile's too) and
    ``ctypes`` use, and answers ``AUDIT_EVENT`` with its counts (``graded_cell`` compares them
    around each ``collect``). It refuses a second audit hook: one added later could rewrite its
    answers. Self-contained: a fresh kernel runs its source as text (``kernel_boot_program``)."""
    import sys

    counted = ("sys.settrace", "sys.setprofile")
    asked = "course.grading.evidence"   # course_utils.checking.graded_cell.AUDIT_EVENT
    counts = dict.fromkeys(counted + ("ctypes",), 0)

    def audit(event, args):
        if event in counted:
            counts[event] += 1
        elif event.startswith("ctypes."):
            counts["ctypes"] += 1
        elif event == "sys.addaudithook":
            raise RuntimeError("the grading kernel keeps one audit hook, its own")
        elif event == asked and len(args) == 1 and type(args[0]) is list and not args[0]:
            args[0].append(dict(counts))

    sys.addaudithook(audit)


def kernel_boot_program() -> str:
    """What a fresh kernel's interpreter runs (``python -c``) instead of ``-m ipykernel_launcher``:
    the audit hook, then ipykernel's launcher as ``-m`` would run it. Called on the grader's side."""
    import inspect

    return (inspect.getsource(install_audit_hook) + "\ninstall_audit_hook()\nimport runpy\n"
            "runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)\n")


def set_kernel_limits(address_space: int, file_size: int, nproc: int):
    """Limits on this process and whatever it becomes (they survive ``execve`` and ``fork``)."""
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_files = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(MAX_OPEN_FILES, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, open_files), open_files))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    forbid_sysv_shm()
