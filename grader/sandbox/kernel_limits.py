"""The limits every kernel sets on itself before any student code runs, fresh or forked: one place.

``set_kernel_limits(address_space, file_size, nproc)`` (the numbers: ``GradingOptions.kernel_limits``)
sets ``RLIMIT_AS``, ``RLIMIT_FSIZE``, no core files, ``RLIMIT_NPROC`` when given, and forbids
System V shared memory (seccomp): memory a kernel detaches from stays allocated and belongs to no
process, so the watchdog could not count it (no lesson uses it).

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


def set_kernel_limits(address_space: int, file_size: int, nproc: int):
    """Limits on this process and whatever it becomes (they survive ``execve`` and ``fork``)."""
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    forbid_sysv_shm()
