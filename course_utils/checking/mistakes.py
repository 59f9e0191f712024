"""Declared judging: the expected answer, the known mistakes, then a fallback, in one place.

An exercise declares what is right (``expected``), each mistake it knows as a method that
produces the wrong answer that mistake gives, marked with ``@mistake(message)``, and optionally
how to read an answer (``normalise``), what no answer of the right form looks like
(``wrong_form``) and what to say when nothing matched (``diagnose``). ``DeclaredAnswer.judged``
is the one loop that runs them; ``same`` (``compare.same``) is its one equality test.

For a value exercise the hooks take no probe; for a function exercise they take the probe's
``spec`` last: ``expected(spec)``, a mistake ``method(spec)``, ``diagnose(answer, expected, spec)``.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

from course_utils.checking import compare

MISTAKE = "course_mistake_message"  # the attribute @mistake sets on a method


def mistake(message):
    """Mark a method as a known mistake; ``message`` (a string, or a function of the probe's
    spec) tells the student what they did. The method returns the answer that mistake gives,
    or None where the mistake cannot be told apart on this probe."""
    def mark(method):
        setattr(method, MISTAKE, message)
        return method

    return mark


@functools.lru_cache(maxsize=None)
def declared_mistakes(kind: type) -> tuple[tuple[str, object], ...]:
    """``(method name, message)`` of the ``@mistake`` methods of ``kind``: its own first, then its
    bases', each in the order written (the first that matches names the answer)."""
    found = {}
    for klass in kind.__mro__:
        for name, member in vars(klass).items():
            if hasattr(member, MISTAKE) and name not in found:
                found[name] = getattr(member, MISTAKE)
    return tuple(found.items())


class Judged(NamedTuple):
    """What the declaration says about one answer. ``outcome``: ``"right"``, ``"form"`` (wrong
    form), ``"mistake"`` (a named one) or ``"other"``; ``message`` is None when right, and when
    ``diagnose`` had nothing to say (the kind then says how ``answer`` differs from ``expected``)."""

    outcome: str
    message: str | None
    answer: Any = None        # as compared (normalised)
    expected: Any = None      # None for a wrong form: nothing was compared
    mistake: str | None = None  # the named mistake's stable id, "<problem id>:<method name>"


class DeclaredAnswer:
    """What value and function exercises share: tolerances, hooks, and the judging loop."""

    rtol: float = 1e-4
    atol: float = 1e-6
    # How the last-resort message names where the first difference is: the answer's axes
    # (("position", "token") for a [seq, vocab] row of logits; None: row/column/position) and
    # whether its values are token ids (then shown with their text).
    answer_axes: tuple[str, ...] | None = None
    values_are_tokens: bool = False

    def same(self, answer, expected) -> bool:
        return compare.same(answer, expected, self.rtol, self.atol)

    def how_it_differs(self, answer, expected) -> str | None:
        """What is wrong with ``answer`` (``compare.mismatch``: its kind first, then where the
        first difference is), or None when it is right."""
        return compare.mismatch(answer, expected, self.rtol, self.atol, axes=self.answer_axes,
                                token_text=self.text_of_token, values_are_tokens=self.values_are_tokens)

    def text_of_token(self, token_id: int) -> str:
        """The text of one token id, for messages (the loaded tokenizer's)."""
        return self.ctx.tokenizer.decode([int(token_id)])

    def normalise(self, answer):
        """The answer as it is compared (e.g. a batch of one unwrapped). Default: as it is."""
        return answer

    def wrong_form(self, answer, *probe) -> str | None:
        """What makes ``answer`` unusable before any comparison (the whole message), or None."""
        return None

    def diagnose(self, answer, expected, *probe) -> str | None:
        """The whole message when no known mistake matched, or None for the kind's default."""
        return None

    def named_mistake(self, answer, expected, *probe) -> str | None:
        """The message of the first declared mistake whose answer equals ``answer``.

        A mistake that gives the right answer on this probe is skipped: it would name a mistake
        the student did not make. Mistakes are computed one by one, only as far as needed.
        """
        named = self.first_mistake(answer, expected, *probe)
        return None if named is None else named[1]

    def first_mistake(self, answer, expected, *probe) -> tuple[str, str] | None:
        """``(stable id, message)`` of the mistake ``named_mistake`` names, or None; the id is
        ``"<problem id>:<method name>"`` (what the class report counts)."""
        for name, message in declared_mistakes(type(self)):
            wrong = getattr(self, name)(*probe)
            if wrong is None or self.same(wrong, expected) or not self.same(answer, wrong):
                continue
            return f"{getattr(self, 'id', type(self).__name__)}:{name}", (
                message(*probe) if callable(message) else message)
        return None

    def judged(self, answer, *probe) -> Judged:
        """Form, then right, then the declared mistakes in order, then ``diagnose``."""
        problem = self.wrong_form(answer, *probe)
        if problem is not None:
            return Judged("form", problem)
        answer = self.normalise(answer)
        expected = self.expected(*probe)
        if self.same(answer, expected):
            return Judged("right", None, answer, expected)
        named = self.first_mistake(answer, expected, *probe)
        if named is not None:
            return Judged("mistake", named[1], answer, expected, named[0])
        return Judged("other", self.diagnose(answer, expected, *probe), answer, expected)

    def expected(self, *probe):
        raise NotImplementedError
