"""The options of a grading run, declared once with their defaults.

``GradingOptions`` is what the command line and ``autograde(options=...)`` choose; the jobs carry
its ``as_dict()`` (plain JSON: it travels to workers and is part of the grader's fingerprint).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Read by the sandbox with a default of its own when absent; left out of ``as_dict`` when None.
SANDBOX_DEFAULTED = ("startup_timeout", "max_processes", "shm_mb", "kernel")


@dataclass(frozen=True)
class GradingOptions:
    cell_timeout: float = 180           # s; a check with sampling may take a while on a busy machine
    notebook_timeout: float = 900       # s for the whole notebook
    memory_mb: int = 4096               # resident memory of the kernel's process tree
    address_space_mb: int = 64 * 1024   # high on purpose: TensorFlow reserves far more than it uses
    file_size_mb: int = 512
    scratch_mb: int = 512               # the kernel's private /tmp (its working directory)
    max_cell_output_bytes: int = 4 * 2**20  # printed output per cell; answer records have their own cap
    judge_memory_mb: int = 1024         # what the worker's own memory may grow by while it grades one job
    network: str = "auto"               # "auto": blocked by the sandbox; "allow": not blocked
    sandbox: str = "bwrap"              # "none" only with --unsafe-no-sandbox
    model: str = "course"               # COURSE_MODEL for the kernel and for the judge alike
    startup_timeout: float | None = None  # s for the kernel to start (None: the sandbox's 120)
    max_processes: int | None = None    # processes + threads + zombies (None: the watchdog's MAX_PROCESSES)
    shm_mb: int | None = None           # the kernel's /dev/shm (None: bwrap's 64 MiB)
    kernel: str | None = None           # "fork" (from a warm template) or "fresh" (None: the sandbox's choice)

    @classmethod
    def from_dict(cls, options: GradingOptions | dict | None = None) -> GradingOptions:
        """The defaults with ``options`` over them; raises ``TypeError`` naming an unknown option."""
        if isinstance(options, GradingOptions):
            return options
        return cls(**(options or {}))

    def as_dict(self) -> dict:
        """The options as the jobs and the sandbox read them (``None`` ones left out)."""
        return {name: value for name, value in dataclasses.asdict(self).items()
                if not (name in SANDBOX_DEFAULTED and value is None)}
