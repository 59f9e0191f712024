"""One grading job: what a worker needs to grade one submission (``grade_one.grade_submission``).

Typed from the coordinator (``autograde``) to the executor's boundary; ``to_dict`` is plain JSON,
what crosses to a worker process (the local pool or Dask), and ``from_dict`` reads it back there,
once, at the start of the job.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from grader.options import GradingOptions
from grader.pipeline.results import max_score_of_text


@dataclass(frozen=True)
class Job:
    student: str
    notebook: str                       # the lesson id
    release: str                        # the release notebook's text, read once by the coordinator
    options: GradingOptions = field(default_factory=GradingOptions)
    lesson_ids: tuple[str, ...] = ()    # the course's lessons (to recognise another lesson's notebook)
    path: str = ""                      # the submission
    sha256: str = ""                    # its hash when the coordinator read it: the file must not change
    hide: tuple[str, ...] = ()          # paths no kernel may see (the submissions folder, OUT)
    feedback_path: str = ""             # where the feedback page goes ("" for none)
    max_score: float | None = None      # the release's points (None: computed from ``release``)
    template: dict | None = None        # the machine's kernel template (``KernelTemplate.attachment``)
                                        # where the engine's workers share the coordinator's machine

    def __post_init__(self):
        if self.max_score is None:  # computed once, here, from the release's test cells
            object.__setattr__(self, "max_score", max_score_of_text(self.release))

    def to_dict(self) -> dict:
        """Plain JSON: what crosses to the worker process."""
        return {**dataclasses.asdict(self), "options": self.options.to_dict(),
                "lesson_ids": list(self.lesson_ids), "hide": list(self.hide)}

    @classmethod
    def from_dict(cls, job: Job | dict) -> Job:
        """The job a worker received (a ``Job`` as is); ``TypeError`` names an unknown field."""
        if isinstance(job, Job):
            return job
        return cls(**{**job, "options": GradingOptions.from_dict(job.get("options")),
                      "lesson_ids": tuple(job.get("lesson_ids", ())), "hide": tuple(job.get("hide", ()))})
