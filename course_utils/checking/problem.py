"""Problem kinds: what an exercise declares, and the student API (check / hint / solution / grade).

Each problem has two halves (docs/ARCHITECTURE.md): ``collect`` runs in the student's kernel and
only turns the student's work into plain data (a *payload*); ``judge`` is pure and compares that
payload with references computed on the loaded model. The grader calls ``judge`` itself, in a
process the student's code never touches.
"""
from __future__ import annotations

import json
import os
import sys
import traceback

from course_utils.checking import compare
from course_utils.checking.context import Context, shared_context
from course_utils.checking.convert import AnswerTypeError, to_plain
from course_utils.checking.verdict import (CORRECT, INCORRECT, NOT_ATTEMPTED, Verdict, correct,
                                           incorrect, not_attempted)

ANSWER_MIME = "application/vnd.course.answer+json"


class Blank:
    """The placeholder ``____`` that starter code assigns: its presence means 'not attempted'."""

    def __repr__(self):
        return "____"


____ = Blank()


class StudentCodeError(Exception):
    """The student's own code raised; ``describe()`` names the exception and the student's line."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error

    def describe(self) -> str:
        return describe_exception(self.error)


def describe_exception(error: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _is_student_frame(f.filename)]
    where = ""
    if frames:
        frame = frames[-1]
        where = f" at line {frame.lineno}" + (f": `{frame.line.strip()}`" if frame.line else "")
    return f"{type(error).__name__}: {error}{where}"


def _is_student_frame(filename: str) -> bool:
    """Frames of notebook cells (ipykernel writes them to /tmp/ipykernel_*/), not of libraries."""
    if "ipykernel_" in filename or filename.startswith("<"):
        return True
    library = ("course_utils", "site-packages", "dist-packages", "/lib/python")
    return not any(part in filename for part in library)


def call_student(function, *args, **kwargs):
    """Call the student's function; wrap whatever it raises so judges can report it."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any exception from student code is reportable
        raise StudentCodeError(error) from error


def user_namespace() -> dict:
    """The notebook's global namespace (IPython's user_ns), or ``__main__``'s outside IPython."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is not None:
        return shell.user_ns
    import __main__

    return vars(__main__)


class Problem:
    """One checkable exercise. Subclasses define ``collect`` and ``judge``.

    Class attributes: ``id`` (set when bound, e.g. ``"lesson2.q3"``), ``points``, ``hints``
    (several levels, gentlest first) and ``solution_code``.
    """

    id: str = ""
    points: int = 1
    hints: tuple[str, ...] = ()
    solution_code: str = ""
    context: Context | None = None  # None: the process's shared context

    # -- the two halves ------------------------------------------------------------------------
    def collect(self, namespace: dict, grading: bool = False) -> dict:
        raise NotImplementedError

    def judge(self, payload: dict) -> Verdict:
        raise NotImplementedError

    @property
    def ctx(self) -> Context:
        return self.context or shared_context()

    # -- student API ---------------------------------------------------------------------------
    def verdict(self, namespace: dict | None = None, grading: bool = False) -> Verdict:
        """Collect and judge without displaying: never raises."""
        try:
            payload = self.collect(user_namespace() if namespace is None else namespace, grading)
            return self.judge_safely(payload)
        except Exception as error:  # noqa: BLE001
            return _checker_failure(error, self.points)

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
        """What a grading-mode payload lacks, or None. Problems with probes override this."""
        return None if isinstance(payload, dict) else "is not a record"

    def judge_safely(self, payload: dict) -> Verdict:
        try:
            verdict = self.judge(payload)
        except StudentCodeError as error:
            verdict = incorrect(f"Your code raised {error.describe()}")
        except AnswerTypeError as error:
            verdict = incorrect(f"The checker could not read your answer: {error}.")
        except Exception as error:  # noqa: BLE001
            return _checker_failure(error, self.points)
        return _scaled(verdict, self.points)

    def check(self, namespace: dict | None = None):
        """Show whether the answer is right, and if not, why."""
        _show(self.verdict(namespace))

    def hint(self, n: int = 1):
        """Show hint ``n`` (1 is the gentlest)."""
        if not self.hints:
            print("There is no hint for this exercise.")
            return
        n = max(1, min(n, len(self.hints)))
        more = f" (hint {n} of {len(self.hints)}; try .hint({n + 1}) for more)" if n < len(self.hints) else ""
        _show_text("Hint" + more, self.hints[n - 1])

    def solution(self):
        """Show a reference solution."""
        _show_text("Solution", self.solution_code or "(no solution text)", code=True)

    def grade(self, namespace: dict | None = None):
        """The locked test cell's call. For a student it is ``check()``; under the grader
        (``COURSE_GRADING=1``) it records the answer, hidden probes included, and raises
        ``AssertionError`` unless correct.

        The payload goes out as a display output of type ``ANSWER_MIME``; the grader reads it
        from the locked test cell and judges it itself, outside the student's kernel.
        """
        if os.environ.get("COURSE_GRADING") != "1":
            self.check(namespace)
            return
        namespace = user_namespace() if namespace is None else namespace
        try:
            payload = self.collect(namespace, grading=True)
        except Exception as error:  # noqa: BLE001
            payload = {"error": describe_exception(error)}
        _emit_payload(self.id, payload)
        verdict = self.judge_safely(payload)
        print(verdict)
        if not verdict.correct:
            raise AssertionError(str(verdict))

    def __repr__(self):
        return f"<exercise {self.id}: call .check(), .hint() or .solution()>"


class MultipartProblem(Problem):
    """An exercise with parts ``q.a``, ``q.b``, …: checking the whole checks every part."""

    def __init__(self, **parts: Problem):
        self.parts = parts
        for name, part in parts.items():
            setattr(self, name, part)

    def bind_id(self, id_: str):
        self.id = id_
        for name, part in self.parts.items():
            part.id = f"{id_}.{name}"

    @property
    def points(self):
        return sum(part.points for part in self.parts.values())

    def collect(self, namespace, grading=False):
        return {name: _collect_safely(part, namespace, grading) for name, part in self.parts.items()}

    def judge(self, payload):
        verdicts = {name: part.judge_safely(payload.get(name, {})) for name, part in self.parts.items()}
        score = sum(v.score for v in verdicts.values())
        lines = "\n".join(f"({name}) {v}" for name, v in verdicts.items())
        statuses = {v.status for v in verdicts.values()}
        status = CORRECT if statuses == {CORRECT} else (
            NOT_ATTEMPTED if statuses == {NOT_ATTEMPTED} else INCORRECT)
        return Verdict(status, lines, score, self.points)

    def judge_safely(self, payload):
        try:
            return self.judge(payload)
        except Exception as error:  # noqa: BLE001
            return _checker_failure(error, self.points)

    def recorded_gap(self, payload):
        if not isinstance(payload, dict):
            return "is not a record"
        for name, part in self.parts.items():
            gap = part.recorded_gap(payload.get(name, {}))
            if gap is not None:
                return f"for part ({name}) {gap}"
        return None


def _collect_safely(problem: Problem, namespace: dict, grading: bool) -> dict:
    try:
        return problem.collect(namespace, grading)
    except Exception as error:  # noqa: BLE001
        return {"error": describe_exception(error)}


# -- value problems -----------------------------------------------------------------------------
class ValueProblem(Problem):
    """The student assigns a value to ``var``; it is compared with ``expected()``.

    Subclasses define ``expected(self) -> plain data`` and may define ``wrong_variants(self)``
    returning ``{message: plain value}`` for known mistakes, and ``rtol`` / ``atol``.
    """

    var: str = ""
    rtol: float = 1e-4
    atol: float = 1e-6

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
        early = judge_payload_shape(payload)
        if early is not None:
            return early
        return self.compare_with_expected(payload["value"], self.expected(), self.wrong_variants())

    def compare_with_expected(self, answer, expected, variants: dict) -> Verdict:
        mismatch = compare.mismatch(answer, expected, self.rtol, self.atol)
        if mismatch is None:
            return correct()
        for message, wrong in variants.items():
            if compare.mismatch(answer, wrong, self.rtol, self.atol) is None:
                return incorrect(message + self._hint_pointer())
        return incorrect(f"`{self.var}` {mismatch}." + self._hint_pointer())

    def _hint_pointer(self) -> str:
        return " Try .hint() for a nudge." if self.hints else ""

    def expected(self):
        raise NotImplementedError

    def wrong_variants(self) -> dict:
        return {}


def judge_payload_shape(payload: dict) -> Verdict | None:
    """The verdict for payloads that carry no answer (missing, blank, error), else None."""
    if "missing" in payload:
        return not_attempted(f"`{payload['missing']}` is not defined yet: run the cell where you set it.")
    if "blank" in payload:
        return not_attempted(f"replace the ____ in `{payload['blank']}` with your answer.")
    if "error" in payload:
        return incorrect(f"Your code raised {payload['error']}")
    if "unreadable" in payload:
        return incorrect(f"The checker could not read {payload['unreadable']}.")
    return None


# -- function problems --------------------------------------------------------------------------
class FunctionProblem(Problem):
    """The student writes a function ``var``; it is called on probe inputs and judged per probe.

    Subclasses define ``public_probes`` and ``hidden_probes`` (lists of JSON-able specs), and:

    * ``run_probe(self, function, spec)`` — call the student's function for a spec (in the
      student's kernel) and return its answer (``to_plain`` is applied afterwards);
    * ``judge_probe(self, spec, answer) -> str | None`` — ``None`` if the answer is right, else
      what is wrong (default: compare with ``expected(spec)`` and name ``wrong_variants(spec)``).

    Partial credit: the score is the fraction of probes answered right.
    """

    var: str = ""
    public_probes: list = []
    hidden_probes: list = []
    rtol: float = 1e-4
    atol: float = 1e-6

    def collect(self, namespace, grading=False):
        function = namespace.get(self.var)
        if function is None:
            return {"missing": self.var}
        if isinstance(function, Blank) or getattr(function, "__course_stub__", False):
            return {"blank": self.var}
        if not callable(function):
            return {"unreadable": f"`{self.var}`: it should be a function, not a {type(function).__name__}"}
        probes = [dict(spec=s, hidden=False) for s in self.public_probes]
        if grading:
            probes += [dict(spec=s, hidden=True) for s in self.hidden_probes]
        for probe in probes:
            try:
                answer = self.run_probe(function, probe["spec"])
                probe["answer"] = None if answer is None else to_plain(answer)
            except StudentCodeError as error:
                probe["error"] = error.describe()
            except AnswerTypeError as error:
                probe["error"] = f"an answer the checker cannot read ({error})"
            except Exception as error:  # noqa: BLE001 - raised inside the student's function
                probe["error"] = describe_exception(error)
        return {"probes": probes}

    def run_probe(self, function, spec):
        raise NotImplementedError

    def recorded_gap(self, payload):
        if not isinstance(payload, dict):
            return "is not a record"
        if "probes" not in payload:
            return None  # no answer at all (missing, blank, error): judged as such
        recorded = [(p.get("spec"), bool(p.get("hidden"))) for p in payload["probes"] if isinstance(p, dict)]
        wanted = ([(s, False) for s in self.public_probes] + [(s, True) for s in self.hidden_probes])
        if json.dumps(recorded, sort_keys=True) != json.dumps(wanted, sort_keys=True):
            return "does not hold the results of this exercise's tests, hidden ones included"
        return None

    def judge(self, payload):
        early = judge_payload_shape(payload)
        if early is not None:
            return early
        probes = payload.get("probes") or []
        if not probes:
            return incorrect("No probe was run.")
        if all(p.get("answer", 0) is None for p in probes):
            # The starter stub (a body of `pass`) returns None: nothing written yet.
            return not_attempted(f"`{self.var}` returns None so far: write its body.")
        problems = []
        for i, probe in enumerate(probes):
            label = f"hidden test {i + 1}" if probe.get("hidden") else f"for {self.describe_probe(probe['spec'])}"
            if "error" in probe:
                problems.append(f"{label}, your function raised {probe['error']}")
                continue
            if probe.get("answer") is None:
                problems.append(f"{label}, your function returned None")
                continue
            what = self.judge_probe(probe["spec"], probe["answer"])
            if what is not None:
                # Hidden probes are described by number only: their inputs stay secret.
                problems.append(f"{label}: {what if not probe.get('hidden') else _first_sentence(what)}")
        if not problems:
            return correct(f"all {len(probes)} test cases pass.")
        score = (len(probes) - len(problems)) / len(probes)
        more = f" ({len(problems) - 1} more test cases fail too.)" if len(problems) > 1 else ""
        return incorrect(problems[0].rstrip(".") + "." + more + self._hint_pointer(), score)

    def judge_probe(self, spec, answer) -> str | None:
        expected = self.expected(spec)
        mismatch = compare.mismatch(answer, expected, self.rtol, self.atol)
        if mismatch is None:
            return None
        for message, wrong in self.wrong_variants(spec).items():
            if compare.mismatch(answer, wrong, self.rtol, self.atol) is None:
                return message
        return f"your result {mismatch}"

    def expected(self, spec):
        raise NotImplementedError

    def wrong_variants(self, spec) -> dict:
        return {}

    def describe_probe(self, spec) -> str:
        return json.dumps(spec)

    def _hint_pointer(self) -> str:
        return " Try .hint() for a nudge." if self.hints else ""


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".") + "."


# -- predict, then run --------------------------------------------------------------------------
class PredictionProblem(ValueProblem):
    """The student commits to a prediction in ``var`` before running the code that reveals it.

    The first prediction checked is remembered: changing it after the answer was shown earns a
    reminder, not a Correct. Subclasses define ``expected()`` and ``explanation`` (shown after).
    """

    explanation: str = ""

    def __init__(self):
        self._first_prediction = None

    def judge(self, payload):
        verdict = super().judge(payload)
        if verdict.status == NOT_ATTEMPTED:
            return verdict
        answer = payload["value"]
        if self._first_prediction is None:
            self._first_prediction = answer
        elif compare.mismatch(answer, self._first_prediction, self.rtol, self.atol) is not None \
                and compare.mismatch(self._first_prediction, self.expected(), self.rtol, self.atol):
            return incorrect(f"you changed your prediction after seeing the answer; your first "
                             f"prediction was {self._first_prediction!r}. {self.explanation}")
        return Verdict(verdict.status, (verdict.message + " " + self.explanation).strip(),
                       verdict.score, verdict.max_score)


# -- helpers ------------------------------------------------------------------------------------
def _scaled(verdict: Verdict, points: float) -> Verdict:
    fraction = verdict.score / verdict.max_score if verdict.max_score else 0.0
    return Verdict(verdict.status, verdict.message, fraction * points, points, verdict.figure_png)


def _checker_failure(error: BaseException, points: float) -> Verdict:
    # Never a traceback from the checker's internals: one line the student can report.
    return Verdict(INCORRECT, f"the checker could not judge this answer ({type(error).__name__}: "
                              f"{error}). If your answer looks right, tell your instructor.", 0.0, points)


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (where display() reaches a notebook), not merely if IPython is importable."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and hasattr(shell, "kernel")


def _emit_payload(problem_id: str, payload: dict):
    data = {"problem": problem_id, "payload": payload}
    if _in_kernel():
        from IPython.display import display

        display({ANSWER_MIME: data, "text/plain": f"[answer to {problem_id} recorded]"}, raw=True)
    else:
        print(json.dumps({ANSWER_MIME: data}))


def _show(verdict: Verdict):
    if _in_kernel():
        from IPython.display import display

        display(verdict)
    else:
        print(verdict)


def _show_text(title: str, text: str, code: bool = False):
    if _in_kernel():
        from IPython.display import Markdown, display

        body = f"```python\n{text}\n```" if code else text
        display(Markdown(f"**{title}:** {body}" if not code else f"**{title}:**\n\n{body}"))
    else:
        print(f"{title}: {text}")


def bind_exercises(namespace: dict, lesson: str, problems: list) -> list[str]:
    """Instantiate ``problems`` as ``q1``, ``q2``, … in ``namespace`` with ids ``lesson.qN``."""
    names = []
    for n, problem in enumerate(problems, start=1):
        instance = problem() if isinstance(problem, type) else problem
        name = f"q{n}"
        if isinstance(instance, MultipartProblem):
            instance.bind_id(f"{lesson}.{name}")
        else:
            instance.id = f"{lesson}.{name}"
        namespace[name] = instance
        names.append(name)
    return names
