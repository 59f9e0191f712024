"""Function exercises: the student writes a function, called on probe inputs and judged per probe.

A declaration (see ``mistakes`` for the hooks)::

    class Square(FunctionProblem):
        id = "lesson0.q2"
        var = "square"
        public_probes = [2, 3]          # run by check(), shown in messages
        hidden_probes = [11]            # run only under the grader, never shown

        def expected(self, spec):
            return spec * spec

        @mistake("You doubled instead of squaring.")
        def doubled(self, spec):
            return 2 * spec

The payload is ``{"probes": [{"spec", "hidden", "answer" | "error"}, ...]}``; the score is the
fraction of probes answered right.
"""
from __future__ import annotations

import json

from course_utils.checking.borrowed import borrowed_message, copied_reference, reference_names, watching
from course_utils.checking.convert import AnswerTypeError, to_plain
from course_utils.checking.mistakes import DeclaredAnswer
from course_utils.checking.problem import Problem
from course_utils.checking.records import Blank, verdict_without_answer
from course_utils.checking.student_code import StudentCodeError, call_student, describe_exception
from course_utils.checking.verdict import correct, incorrect, not_attempted


class FunctionProblem(DeclaredAnswer, Problem):
    """The student writes a function ``var``; it runs on ``public_probes`` (and ``hidden_probes``
    in grading mode), lists of JSON-able specs.

    Declares ``expected(self, spec)`` and may declare ``@mistake`` methods ``(self, spec)``,
    ``run_probe(function, spec)`` (how to call the student's function: default ``function(spec)``;
    it runs in the student's kernel), ``normalise(answer)``, ``wrong_form(answer, spec)``,
    ``diagnose(answer, expected, spec)``, ``describe_probe(spec)``, ``rtol``/``atol``. A kind
    that is not judged against one expected answer (a sampler) overrides ``judge_probe``.
    """

    var: str = ""
    public_probes: list = []
    hidden_probes: list = []

    # -- in the student's kernel ----------------------------------------------------------------
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
        names = reference_names(self)
        with watching(names) as calls:
            for probe in probes:
                self.collect_probe(function, probe)
        payload = {"probes": probes}
        borrowed = copied_reference(function, names) or (calls[0] if calls else None)
        if borrowed:
            payload["reference"] = borrowed
        return payload

    def collect_probe(self, function, probe: dict):
        """Run one probe, in place: ``probe["answer"]`` or ``probe["error"]``."""
        try:
            answer = self.run_probe(function, probe["spec"])
            probe["answer"] = None if answer is None else to_plain(answer)
        except StudentCodeError as error:
            probe["error"] = error.describe()
        except AnswerTypeError as error:
            probe["error"] = f"an answer the checker cannot read ({error})"
        except Exception as error:  # noqa: BLE001 - raised inside the student's function
            probe["error"] = describe_exception(error)

    def run_probe(self, function, spec):
        return call_student(function, spec)

    # -- judging: a function of the payload -----------------------------------------------------
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
        early = verdict_without_answer(payload)
        if early is not None:
            return early
        if payload.get("reference"):
            return incorrect(borrowed_message(str(payload["reference"])) + ".", 0.0)
        probes = payload.get("probes") or []
        if not probes:
            return incorrect("No probe was run.")
        if all(p.get("answer", 0) is None for p in probes):
            # The starter stub (a body of `pass`) returns None: nothing written yet.
            return not_attempted(f"`{self.var}` returns None so far: write its body.")
        problems, failed, named = [], [], []
        for i, probe in enumerate(probes):
            label = f"hidden test {i + 1}" if probe.get("hidden") else f"for {self.describe_probe(probe['spec'])}"
            if "error" in probe:
                problems.append(f"{label}, your function raised {probe['error']}")
            elif probe.get("answer") is None:
                problems.append(f"{label}, your function returned None")
            else:
                what, mistake = self.probe_verdict(probe["spec"], probe["answer"])
                if what is None:
                    continue
                # Hidden probes are described by number only: their inputs stay secret.
                problems.append(f"{label}: {what if not probe.get('hidden') else first_sentence(what)}")
                named.append((len(problems), mistake))
            failed.append(f"hidden test {i + 1}" if probe.get("hidden") else f"test {i + 1}")
        if not problems:
            return correct("the one test case passes." if len(probes) == 1
                           else f"all {len(probes)} test cases pass.")
        score = (len(probes) - len(problems)) / len(probes)
        others = len(problems) - 1
        more = ("" if not others else " (1 more test case fails too.)" if others == 1
                else f" ({others} more test cases fail too.)")
        # The mistake recorded is the one the message names: that of the first failing probe.
        mistake = next((m for at, m in named if at == 1), None)
        return incorrect(problems[0].rstrip(".") + "." + more + self.hint_pointer(), score,
                         mistake=mistake, failed_tests=failed)

    def judge_probe(self, spec, answer) -> str | None:
        """None if ``answer`` is right for ``spec``, else what is wrong (the declaration decides).
        A kind may override it and call ``super().judge_probe`` for the declared part."""
        return self.declared_verdict(spec, answer)[0]

    def probe_verdict(self, spec, answer) -> tuple[str | None, str | None]:
        """``(judge_probe's answer, the named mistake's stable id or None)``; a kind that
        overrides ``judge_probe`` names no mistake id."""
        if type(self).judge_probe is not FunctionProblem.judge_probe:
            return self.judge_probe(spec, answer), None
        return self.declared_verdict(spec, answer)

    def declared_verdict(self, spec, answer) -> tuple[str | None, str | None]:
        """What the declaration (expected value, @mistake methods) says of ``answer``."""
        judged = self.judged(answer, spec)
        if judged.outcome == "right":
            return None, None
        if judged.message is not None:
            return judged.message, judged.mistake
        return f"your result {self.how_it_differs(judged.answer, judged.expected)}", None

    def describe_probe(self, spec) -> str:
        return json.dumps(spec)


def first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".") + "."
