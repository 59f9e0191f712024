"""The watchdog: kills a kernel's whole process tree on a deadline, a stuck cell, too much memory,
too many tasks (processes, threads and zombies alike) or too many files in its IPC folder.

Memory is everything the kernel holds: resident pages of its processes (shared memory they map
included), its scratch tmpfs (``/tmp``, ``/dev/shm``), and the pages of memory files (``memfd``)
it holds open without mapping them. Disk is the blocks allocated in its IPC folder, the only host
folder it may write, counted from the blocks (``st_blocks``) rather than sizes, so that a file
grown with ``fallocate(FALLOC_FL_KEEP_SIZE)`` or a sparse one counts for what it occupies, and
including files it deleted but keeps open.

Everything is polled from ``/proc`` by a thread of the grader's worker, so nothing the kernel
does (ignoring SIGINT, ``setsid``, forking) takes it out of reach: in its own PID namespace every
orphan is re-parented to the namespace's init, which stays a descendant of the kernel's leader.
"""
from __future__ import annotations

import os
import signal
import stat
import threading
import time

from grader.pipeline.results import Status

MAX_RUN_DIR_ENTRIES = 64   # the IPC folder holds a connection file and five sockets
MAX_SCRATCH_FILES = 50_000 # files in the sandbox's /tmp and /dev/shm (each one costs kernel memory)
SCRATCH = ("tmp", "dev/shm")


class Watchdog(threading.Thread):
    """Kills the kernel's process tree (led by ``pgid``) when a limit is passed; ``reason`` says why."""

    def __init__(self, pgid: int, notebook_timeout: float, cell_limit: float, memory_bytes: int,
                 max_processes: int, run_dir: str | None = None, run_dir_bytes: int = 2**20,
                 scratch: bool = False):
        super().__init__(daemon=True)
        self.pgid, self.cell_limit, self.memory_bytes = pgid, cell_limit, memory_bytes
        self.max_processes = max_processes   # tasks: processes + threads + zombies
        self.run_dir, self.run_dir_bytes = run_dir, run_dir_bytes
        self.scratch = scratch  # sandboxed: its tmpfs scratch (memory, not in RSS) counts too
        self.scratch_bytes = self.scratch_files = 0
        self.deadline = time.monotonic() + notebook_timeout
        self.cell_started: float | None = None
        self.cell_index: int | None = None
        self.reason: tuple[str, str] | None = None  # (status, message) once it has killed
        self.peak_rss = 0
        self._stop = threading.Event()

    def run(self):
        polls = 0
        while not self._stop.wait(0.2):
            polls += 1
            now = time.monotonic()
            members = tree_members(self.pgid)
            if self.scratch and polls % 5 == 1:
                self.scratch_bytes, self.scratch_files = scratch_usage(members - {self.pgid})
            memfd_bytes, run_dir_held = held_files(members, self.run_dir)
            rss = sum(rss_bytes(pid) for pid in members) + self.scratch_bytes + memfd_bytes
            self.peak_rss = max(self.peak_rss, rss)
            if self.scratch_files > MAX_SCRATCH_FILES:
                self.kill(Status.CRASH, f"the notebook created more than {MAX_SCRATCH_FILES:,} files")
            elif rss > self.memory_bytes:
                self.kill(Status.OOM, f"the kernel used more than {self.memory_bytes // 2**20} MiB of memory")
            elif sum(task_count(pid) for pid in members) > self.max_processes:
                self.kill(Status.CRASH, f"the notebook started more than {self.max_processes} processes or threads")
            elif now > self.deadline:
                self.kill(Status.TIMEOUT, "the notebook ran past its time limit")
            elif self.cell_started is not None and now - self.cell_started > self.cell_limit:
                self.kill(Status.TIMEOUT, f"a cell ran past its time limit ({self.cell_limit:.0f} s) and "
                                          "did not stop when interrupted")
            elif self.run_dir and (run_dir_held > self.run_dir_bytes
                                   or not _small_folder(self.run_dir, self.run_dir_bytes - run_dir_held)):
                self.kill(Status.CRASH, "the notebook wrote files where the grader talks to it")

    def cell_began(self, index: int) -> float:
        """The kernel started cell ``index`` (now, returned): its own time limit runs."""
        self.cell_started, self.cell_index = time.monotonic(), index
        return self.cell_started

    def cell_ended(self):
        self.cell_started = None

    def kill(self, status: Status, message: str):
        if self.reason is None:
            self.reason = (status, message)
        kill_tree(self.pgid)

    def stop(self):
        self._stop.set()


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


def tree_members(leader: int) -> set[int]:
    """The processes (zombies included) of ``leader``'s group and all descendants of ``leader``.

    Descendants catch what left the group with ``setsid``; in the kernel's own PID namespace
    orphans are re-parented to the namespace's init, so they stay descendants.
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


def scratch_usage(members) -> tuple[int, int]:
    """Bytes and files in the sandbox's scratch tmpfs, seen through a sandboxed process's root."""
    host = {os.stat("/" + path).st_dev for path in SCRATCH if os.path.exists("/" + path)}
    for pid in sorted(members):
        try:
            stats = [os.statvfs(f"/proc/{pid}/root/{path}") for path in SCRATCH]
            if any(os.stat(f"/proc/{pid}/root/{path}").st_dev in host for path in SCRATCH):
                continue  # not in the sandbox's mount namespace
        except OSError:
            continue
        return (sum((s.f_blocks - s.f_bfree) * s.f_frsize for s in stats),
                sum(s.f_files - s.f_ffree for s in stats))
    return 0, 0


def held_files(members, run_dir: str | None) -> tuple[int, int]:
    """``(memfd bytes, IPC-folder bytes)`` held open by ``members``: the pages of each memory file
    (``memfd_create``; mapped or not) and the blocks of each file of the IPC folder (deleted ones
    too), each file counted once however many descriptors hold it."""
    seen, memfd, in_run_dir = set(), 0, 0
    prefix = run_dir.rstrip("/") + "/" if run_dir else None
    for pid in members:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{pid}/fd/{fd}"
            try:
                target = os.readlink(path)
                if not (target.startswith("/memfd:") or (prefix and target.startswith(prefix))):
                    continue
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                if target.startswith("/memfd:"):
                    memfd += info.st_blocks * 512
                else:
                    in_run_dir += max(info.st_size, info.st_blocks * 512)
    return memfd, in_run_dir


def task_count(pid: int) -> int:
    """The threads of ``pid`` (a zombie, whose task list is gone, counts as one)."""
    try:
        return max(1, len(os.listdir(f"/proc/{pid}/task")))
    except OSError:
        return 1


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _small_folder(path: str, max_bytes: int) -> bool:
    """True while ``path`` holds few entries, no sub-folders, and few bytes of plain files."""
    total, count = 0, 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                count += 1
                if count > MAX_RUN_DIR_ENTRIES or entry.is_dir(follow_symlinks=False):
                    return False
                if entry.is_file(follow_symlinks=False):  # allocated blocks, and the size a sparse file claims
                    info = entry.stat(follow_symlinks=False)
                    total += max(info.st_size, info.st_blocks * 512)
    except FileNotFoundError:
        return True
    except OSError:  # made unreadable: nothing the grader cannot see is allowed there
        return False
    return total <= max_bytes
