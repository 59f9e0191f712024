"""Value exercises: the student assigns a value to a variable, judged against ``expected()``.

A declaration (see ``mistakes`` for the hooks)::

    class VocabularySize(ValueProblem):
        id = "lesson1.q1"
        var = "vocab_size"
        hints = ("Try `len(tokenizer)`.",)

        def expected(self):
            return len(self.ctx.tokenizer)

        @mistake("That is the largest token id, not the number of tokens: ids start at 0.")
        def largest_id(self):
            return len(self.ctx.tokenizer) - 1
"""
from __future__ import annotations

import dataclasses

from course_utils.checking.convert import AnswerTypeError, to_plain
from course_utils.checking.mistakes import DeclaredAnswer
from course_utils.checking.problem import Problem
from course_utils.checking.records import Blank, verdict_without_answer
from course_utils.checking.verdict import NOT_ATTEMPTED, Verdict, correct, incorrect


class ValueProblem(DeclaredAnswer, Problem):
    """The student assigns a value to ``var``; the payload is ``{"value": plain data}``.

    Declares ``expected(self)``, and may declare ``@mistake`` methods ``(self) -> wrong value``,
    ``normalise(answer)``, ``wrong_form(answer)``, ``diagnose(answer, expected)``, ``rtol``/``atol``.
    """

    var: str = ""

    def collect(self, namespace, grading=False):
        if self.var not in namespace:
            return {"missing": self.var}
        value = namespace[self.var]
        if isinstance(value, Blank):
            return {"blank": self.var}
        try:
            return {"value": to_plain(value)}
        except AnswerTypeError as error:
            return {"unreadable": f"`{self.var}`: {error}"}

    def judge(self, payload):
        early = verdict_without_answer(payload)
        if early is not None:
            return early
        judged = self.judged(payload["value"])
        if judged.outcome == "right":
            return correct()
        if judged.outcome == "mistake":
            return incorrect(judged.message + self.hint_pointer(), mistake=judged.mistake)
        if judged.message is not None:
            return incorrect(judged.message)
        difference = self.how_it_differs(judged.answer, judged.expected)
        return incorrect(f"`{self.var}` {difference}." + self.hint_pointer())


class PredictionProblem(ValueProblem):
    """The student commits to a prediction in ``var`` before running the code that reveals it.

    The first prediction this kernel checked travels in the payload (``"first"``), *recorded, not
    judged*: the verdict is that of the value given now, and a first guess that differs is named
    beside it ("your first prediction in this kernel was ..."). Judging the change would give one
    answer two verdicts: a kernel restart forgets the first guess, and Validate and the grader run
    the notebook afresh, where the first guess is the last one. ``collect`` keeps the memory in the
    kernel, so ``judge`` stays a function of the payload. Declares ``expected()`` and
    ``explanation``.
    """

    explanation: str = ""

    def __init__(self):
        self.first_collected = None  # kernel side: the first prediction this kernel checked

    def collect(self, namespace, grading=False):
        payload = super().collect(namespace, grading)
        if "value" in payload:
            if self.first_collected is None:
                self.first_collected = payload["value"]
            payload["first"] = self.first_collected
        return payload

    def judge(self, payload):
        verdict = super().judge(payload)                     # judged on the value given now
        if verdict.status == NOT_ATTEMPTED or "value" not in payload:
            return verdict
        first = payload.get("first", payload["value"])
        record = ("" if self.same(payload["value"], first) else
                  f"Your first prediction in this kernel was {first!r}: compare it with the measurement.")
        return dataclasses.replace(verdict, message=" ".join(filter(None, [verdict.message, record,
                                                                           self.explanation])))
