"""The options of a grading run, each declared once: its type, its default and its help.

``GradingOptions`` is what the command line (``grader.cli`` makes a flag of each field, with the
field's help) and ``autograde(options=...)`` choose. It travels typed: the coordinator hands it
to the jobs (``grader.pipeline.job.Job``), the sandbox and the template read its attributes; it becomes
plain JSON only where a job crosses to another process (``Job.to_dict``) and back
(``from_dict``), and in the grader's fingerprint. ``kernel_limits`` is the one place the limits a
kernel sets on itself come from, for a forked and a fresh kernel alike.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


GROUPS = ("limits", "sandbox")   # where ``--help`` lists an option (``grader.cli`` adds input, cluster, output)


def option(default, help: str, choices: tuple[str, ...] | None = None, switch: tuple[str, str] | None = None,
           group: str = "limits"):
    """A declared option: ``switch = (flag, value)`` adds a flag that sets the value alone
    (``--allow-network`` sets ``network="allow"``), beside the option's own ``--name VALUE``;
    ``group``: the heading ``--help`` lists it under (one of ``GROUPS``)."""
    return field(default=default, metadata={"help": help, "choices": choices, "switch": switch, "group": group})


@dataclass(frozen=True)
class GradingOptions:
    cell_timeout: float = option(180, "seconds per cell (a check with sampling may take a while on a busy machine)")
    notebook_timeout: float = option(900, "seconds for the whole notebook")
    startup_timeout: float = option(120, "seconds for a kernel to start")
    memory_mb: int = option(4096, "memory cap per kernel (MiB): resident memory of its process tree, its "
                                  "scratch tmpfs and the memory files it holds open")
    address_space_mb: int = option(64 * 1024, "RLIMIT_AS per kernel (MiB); high on purpose: TensorFlow reserves "
                                              "far more address space than it uses")
    file_size_mb: int = option(512, "RLIMIT_FSIZE per kernel: the largest file it may write (MiB)")
    scratch_mb: int = option(512, "the kernel's private /tmp, its working directory and HOME (MiB)")
    shm_mb: int = option(64, "the kernel's private /dev/shm (MiB)")
    max_processes: int = option(256, "tasks per kernel: processes + threads + zombies (the watchdog; also "
                                     "RLIMIT_NPROC, plus 64, where the sandbox runs as a host uid of its own)")
    max_cell_output_bytes: int = option(4 * 2**20, "printed output kept per cell (bytes); answer records have "
                                                   "their own cap")
    judge_memory_mb: int = option(1024, "what the worker's own memory may grow by while it grades one "
                                        "submission (MiB)")
    network: str = option("auto", "auto: the kernel is cut off the network; allow: it is not",
                          choices=("auto", "allow"), switch=("--allow-network", "allow"), group="sandbox")
    sandbox: str = option("bwrap", "bwrap: kernels run in bubblewrap; none: grade even where bubblewrap cannot "
                                   "run, kernels then run with your own rights (read and write your files, see "
                                   "the network): only for submissions you trust",
                          choices=("bwrap", "none"), switch=("--unsafe-no-sandbox", "none"), group="sandbox")
    model: str = option("course", "COURSE_MODEL for kernels and judge alike", group="sandbox")
    kernel: str = option("fork", "fork: each notebook's kernel is forked, in a sandbox of its own, from a "
                                 "template that has imported the libraries and loaded the model once per worker; "
                                 "fresh: a new interpreter per notebook (slower, nothing shared)",
                         choices=("fork", "fresh"), group="sandbox")

    def __post_init__(self):
        for spec in dataclasses.fields(self):
            choices = spec.metadata["choices"]
            if choices and getattr(self, spec.name) not in choices:
                raise ValueError(f"{spec.name} must be one of {', '.join(choices)}, not {getattr(self, spec.name)!r}")

    @classmethod
    def from_dict(cls, options: GradingOptions | dict | None = None) -> GradingOptions:
        """The defaults with ``options`` over them; ``TypeError`` names an unknown option."""
        if isinstance(options, GradingOptions):
            return options
        return cls(**(options or {}))

    def to_dict(self) -> dict:
        """Every option as plain JSON (a job crossing to another process; the fingerprint)."""
        return dataclasses.asdict(self)

    def but(self, **changes) -> GradingOptions:
        """These options with ``changes`` (``options.but(kernel="fresh")``)."""
        return dataclasses.replace(self, **changes)

    @property
    def sandboxed(self) -> bool:
        return self.sandbox != "none"

    @property
    def network_allowed(self) -> bool:
        return self.network == "allow"

    def kernel_limits(self, own_host_uid: bool) -> list[int]:
        """``[RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NPROC or 0]`` in bytes / tasks, what every kernel sets
        on itself (``grader.sandbox.kernel_limits.set_kernel_limits``), forked or fresh. ``RLIMIT_NPROC``
        counts every process of the uid, so only a sandbox with a host uid of its own
        (``own_host_uid``: the grader runs as root) gets one: the watchdog's task limit and a margin
        for the sandbox's own processes."""
        return [self.address_space_mb * 2**20, self.file_size_mb * 2**20,
                self.max_processes + 64 if own_host_uid else 0]


def declared() -> list[dataclasses.Field]:
    """The options' declarations, in order (for the command line)."""
    return list(dataclasses.fields(GradingOptions))
