"""Peak memory of each grading worker's process tree, sampled while a batch runs (Linux ``/proc``).

A worker's tree is the pool worker (its judge), its kernel template (bubblewrap and the template's
interpreter) and the kernels forked from the template. Resident sizes (RSS) count a page that the
template shares with its forks once per process, so their sum overstates what the tree holds;
proportional sizes (PSS) split each shared page between its sharers, so the tree's PSS sum is what
it really holds. Both are reported.
"""
from __future__ import annotations

import os
import threading
from collections import defaultdict

TEMPLATE_MARK = b"kernel template"   # the template's docstring, on its ``python -I -c`` command line


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _children() -> dict[int, list[int]]:
    """``{parent pid: [child pids]}`` of every process now."""
    found = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _read(f"/proc/{entry.name}/stat")
            if stat:
                found[int(stat.rsplit(b")", 1)[1].split()[1])].append(int(entry.name))
    return found


def _tree(pid: int, children: dict) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        pids.append(stack.pop())
        stack.extend(children.get(pids[-1], ()))
    return pids


def _sizes_kib(pid: int) -> tuple[int, int]:
    """``(rss, pss)`` of one process in KiB (0, 0 once it has gone)."""
    rss = pss = 0
    for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith(b"Rss:"):
            rss = int(line.split()[1])
        elif line.startswith(b"Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def _template_root(pids: list[int]) -> int | None:
    """The template's own interpreter: the topmost Python process of a tree that carries its
    command line (bubblewrap, above it, carries it as arguments; the kernels forked from it carry
    the same one, below it)."""
    for pid in pids:  # depth-first from the worker: the first match is the topmost
        argv = _read(f"/proc/{pid}/cmdline").split(b"\0")
        if TEMPLATE_MARK in b" ".join(argv) and b"python" in os.path.basename(argv[0]):
            return pid
    return None


class TreeMemory:
    """Samples the trees of this process's pool workers every ``interval`` seconds, in a thread.

    ``peaks()``: per worker pid, the peak of ``tree_rss``, ``tree_pss`` (worker + its own template
    and kernels, if any), ``worker_rss`` (the judge's process alone) and ``template_rss`` /
    ``template_pss`` (its template's interpreter alone, without the kernels forked from it), in
    MiB; ``machine()``: the peaks of the shared template's tree (``shared_template_pss``), of the
    pool's fork server, whose imports its workers share (``fork_server_pss``), of everything (``machine_pss``) and of that per worker (``per_worker_pss``).
    """

    def __init__(self, interval: float = 0.5):
        self.interval, self._peaks = interval, defaultdict(lambda: defaultdict(int))
        self._machine = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self):
        children = _children()
        trees, workers = [], 0
        for child in children.get(os.getpid(), ()):
            argv = _read(f"/proc/{child}/cmdline")
            if b"spawn_main" in argv:
                trees.append(self._sample_worker(child, children))
                workers += 1
            elif b"forkserver" in argv:  # the pool's fork server: the judges' shared imports, its children the workers
                pss = _sizes_kib(child)[1]
                trees.append(pss)
                self._peak(self._machine, "fork_server_pss", pss)
                for worker in children.get(child, ()):
                    trees.append(self._sample_worker(worker, children))
                    workers += 1
            elif TEMPLATE_MARK in argv:  # the machine's template, bubblewrap at its top
                pss = sum(_sizes_kib(pid)[1] for pid in _tree(child, children))
                trees.append(pss)
                self._peak(self._machine, "shared_template_pss", pss)
        if workers:
            self._peak(self._machine, "machine_pss", sum(trees))
            self._peak(self._machine, "per_worker_pss", sum(trees) // workers)

    def _sample_worker(self, worker: int, children: dict) -> int:
        """One worker's sizes into its peaks; returns its tree's PSS in KiB."""
        pids = _tree(worker, children)
        sizes = {pid: _sizes_kib(pid) for pid in pids}
        template = _template_root(pids)
        values = {"tree_rss": sum(r for r, _ in sizes.values()), "tree_pss": sum(p for _, p in sizes.values()),
                  "worker_rss": sizes[worker][0],
                  "template_rss": sizes[template][0] if template else 0,
                  "template_pss": sizes[template][1] if template else 0}
        for name, kib in values.items():
            self._peak(self._peaks[worker], name, kib)
        return values["tree_pss"]

    @staticmethod
    def _peak(peaks: dict, name: str, kib: int):
        peaks[name] = max(peaks[name], kib // 1024)

    def machine(self) -> dict[str, int]:
        return dict(self._machine)

    def peaks(self) -> dict[int, dict[str, int]]:
        return {pid: dict(values) for pid, values in self._peaks.items()}
