"""The exercise protocol: the two halves every exercise has, and the student's API around them.

Each exercise has two halves (docs/ARCHITECTURE.md) that share no mutable state:

* ``collect(namespace, grading)`` runs in the student's kernel and only turns the student's work
  into plain data, a *payload* (``records``); it never compares anything;
* ``judge(payload)`` is a pure function of the payload and the references computed on the loaded
  model: the same payload always gets the same verdict, in the kernel or in the grader's process.

The kinds of exercise (``value``, ``function``, ``multipart``) define the two halves; this module
adds what a student calls (``check``, ``hint``, ``solution``, ``grade``) and what the grader calls
(``judge_recorded``).
"""
from __future__ import annotations

import contextlib
import io
import os
import textwrap

from course_utils.checking import answer_key, hidden_tests, solutions
from course_utils.checking.context import Context, shared_context
from course_utils.checking.convert import AnswerTypeError
from course_utils.checking.display import show_text, show_verdict
from course_utils.checking.notebook import user_namespace
from course_utils.checking.records import (ANSWER_MIME, checker_failure, emit_answer_record,
                                           scaled)
from course_utils.checking.student_code import StudentCodeError, describe_exception
from course_utils.checking.verdict import INCORRECT, Verdict, incorrect

__all__ = ["ANSWER_MIME", "Problem", "locked_cell_mode"]  # ANSWER_MIME: the grader reads it from here


class _Discard(io.TextIOBase):
    def writable(self):
        return True

    def write(self, text):
        return len(text)


def _discarded_output():
    """``sys.stdout`` and ``sys.stderr`` discarded for the block (both context managers in one)."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(_Discard()))
    stack.enter_context(contextlib.redirect_stderr(_Discard()))
    return stack


def locked_cell_mode() -> str:
    """What the locked test cells (``qK.grade()``) do in this process: ``"grade"``, ``"validate"``
    or ``"practice"``. Read from the environment the kernel inherited:

    * ``COURSE_GRADING=1``: the course's grader (``grader/sandbox/contained.py`` sets it in the kernel's
      cleared environment) and the tests of the source notebooks: ``"grade"``.
    * ``NBGRADER_EXECUTION``: nbgrader's documented hook (its FAQ, "Can I modify the notebook
      behavior during autograding or validation?"). Its ``Validator`` sets
      ``NBGRADER_EXECUTION=validate`` around the execution of the notebook, and the kernel it
      starts inherits it: so do ``nbgrader validate``, the Validate button of the Jupyter
      assignment list and ``ValidateApp``/``Validator`` called from Python. ``validate`` gives
      ``"validate"``: each test cell fails unless its exercise is Correct, so Validate no longer
      says "Success!" on an unanswered notebook. ``nbgrader autograde`` sets
      ``NBGRADER_EXECUTION=autograde``: ``"grade"``, so plain nbgrader grades truthfully too.
    * neither: ``"practice"``, a student running cells, where a test cell only shows its verdict.

    A variable that nbgrader sets was chosen over a course configuration (``nbgrader_config.py``)
    because a configuration reaches nbgrader's process, not the kernel where ``grade()`` runs, and
    students run Validate from their own Jupyter, where the course ships no configuration.
    """
    if os.environ.get("COURSE_GRADING") == "1":
        return "grade"
    execution = os.environ.get("NBGRADER_EXECUTION")
    if execution == "validate":
        return "validate"
    if execution == "autograde":
        return "grade"
    return "practice"


def validation_message(name: str, verdict: Verdict) -> str:
    """``q2: Incorrect: ...`` in lines that nbgrader's Validate report shows whole (it cuts each
    line at 90 columns, the indent and ``AssertionError: `` included)."""
    return "\n".join(textwrap.fill(line, 66) for line in f"{name}: {verdict}".splitlines())


class Problem:
    """One checkable exercise. Kinds define ``collect`` and ``judge``; an exercise declares:

    ``id`` (``"lesson3.q3"``: the lesson's module, then the name the notebook uses; its test cell's
    ``grade_id`` is ``lesson3_q3``), ``points``, ``hints`` (gentlest first). Its solution is the
    solution region of its source notebook (``solutions``), not a copy here.
    """

    id: str = ""
    points: int = 1
    hints: tuple[str, ...] = ()
    context: Context | None = None  # None: the process's shared context

    # -- the two halves ------------------------------------------------------------------------
    def collect(self, namespace: dict, grading: bool = False) -> dict:
        raise NotImplementedError

    def judge(self, payload: dict) -> Verdict:
        raise NotImplementedError

    @property
    def ctx(self) -> Context:
        return self.context or shared_context()

    # -- judging, safely -----------------------------------------------------------------------
    def verdict(self, namespace: dict | None = None, grading: bool = False) -> Verdict:
        """Collect and judge without displaying: never raises."""
        try:
            payload = self.collect(user_namespace() if namespace is None else namespace, grading)
            return self.judge_safely(payload)
        except Exception as error:  # noqa: BLE001
            return checker_failure(error, self.points)

    def judge_safely(self, payload: dict) -> Verdict:
        """``judge`` scaled to ``points``; the student's errors and the checker's own are verdicts."""
        try:
            verdict = self.judge(payload)
        except StudentCodeError as error:
            verdict = incorrect(f"Your code raised {error.describe()}")
        except AnswerTypeError as error:
            verdict = incorrect(f"The checker could not read your answer: {error}.")
        except Exception as error:  # noqa: BLE001
            return checker_failure(error, self.points)
        return scaled(verdict, self.points)

    def judge_recorded(self, payload: dict) -> Verdict:
        """The grader's verdict on a payload recorded in grading mode (scaled to ``points``).

        Stricter than ``judge_safely``: a payload that does not cover the tests grading mode runs
        (a checker patched in the kernel could leave the hidden probes out) earns nothing.
        """
        gap = self.recorded_gap(payload)
        if gap is not None:
            return Verdict(INCORRECT, f"the recorded answer {gap}; was the checker changed in the "
                                      f"notebook?", 0.0, self.points)
        return self.judge_safely(payload)

    def recorded_gap(self, payload: dict) -> str | None:
        """What a grading-mode payload lacks, or None. Kinds with probes override this."""
        return None if isinstance(payload, dict) else "is not a record"

    @property
    def name(self) -> str:
        """The name the notebook uses: ``q1`` for ``lesson1.q1``, ``q2.a`` for a part."""
        return self.id.split(".", 1)[1] if "." in self.id else (self.id or "this exercise")

    def hint_pointer(self) -> str:
        """Appended to an Incorrect message when there is a hint to read."""
        return f" Try `{self.name}.hint()` for a nudge." if self.hints else ""

    # -- the student's API ---------------------------------------------------------------------
    def check(self, namespace: dict | None = None):
        """Show whether the answer is right, and if not, why."""
        if not answer_key.AVAILABLE:  # the grading kernel's copy: the grader judges
            show_text("check()", answer_key.ABSENT)
            return
        show_verdict(self.verdict(namespace))

    def hint(self, n: int = 1):
        """Show hint ``n`` (1 is the gentlest)."""
        if not self.hints:
            print("There is no hint for this exercise.")
            return
        n = max(1, min(n, len(self.hints)))
        more = (f" (hint {n} of {len(self.hints)}; `{self.name}.hint({n + 1})` gives more)"
                if n < len(self.hints) else f" (hint {n} of {len(self.hints)}; `{self.name}.solution()` "
                                            f"shows the solution)")
        show_text("Hint" + more, self.hints[n - 1])

    @property
    def solution_code(self) -> str:
        """The reference solution, from the source notebook; "" where the release has none."""
        return solutions.solution_code(self.id) or ""

    def solution(self):
        """Show the reference solution."""
        show_text("Solution", self.solution_code or solutions.NOT_IN_THIS_RELEASE, code=bool(self.solution_code))

    def grade(self, namespace: dict | None = None, nonce: str | None = None, hidden: str | None = None):
        """The locked test cell's call; what it does depends on ``locked_cell_mode()``:

        * ``"practice"`` (a student running the notebook): ``check()``, never raises, so "Run All"
          of an unanswered notebook reaches the end;
        * ``"validate"`` (nbgrader's Validate): ``check()`` (public tests only: hidden inputs stay
          secret), then ``AssertionError`` unless Correct, so nbgrader counts the cell as failed;
        * ``"grade"`` (the grader): records the answer, hidden probes included, and raises
          ``AssertionError`` unless Correct. The grader writes a ``nonce`` of its own into each test
          cell's call and counts only a record that carries it: one emitted before that cell ran
          (by a thread, a timer, an earlier cell) cannot know it. It writes the exercise's hidden
          tests there too (``hidden``, JSON: ``hidden_tests``): the grading kernel's copy of the
          course has none of its own, and no answer key, so there the cell only records.
        """
        mode = locked_cell_mode()
        if mode == "practice":
            self.check(namespace)
            return
        if mode == "validate":
            verdict = self.verdict(namespace)
            show_verdict(verdict)
            if not verdict.correct:
                raise AssertionError(validation_message(self.name, verdict))
            return
        namespace = user_namespace() if namespace is None else namespace
        try:
            # What the student's code prints while its answer is collected is not kept: no page
            # shows a test cell's output (the grader's verdict replaces it), and a flood there
            # must not crowd out the answer record.
            with hidden_tests.lent(self, hidden), _discarded_output():
                payload = self.collect(namespace, grading=True)
        except Exception as error:  # noqa: BLE001
            payload = {"error": describe_exception(error)}
        emit_answer_record(self.id, payload, nonce)
        if not answer_key.AVAILABLE:
            print(f"{self.name}: your answer was recorded; the grader judges it.")
            return
        verdict = self.judge_safely(payload)
        print(verdict)
        if not verdict.correct:
            raise AssertionError(str(verdict))

    def __repr__(self):
        return f"<exercise {self.id}: call {self.name}.check(), {self.name}.hint() or {self.name}.solution()>"
