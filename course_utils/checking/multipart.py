"""An exercise in parts ``q.a``, ``q.b``, …: checking the whole checks (and scores) every part."""
from __future__ import annotations

from course_utils.checking.problem import Problem
from course_utils.checking.records import checker_failure
from course_utils.checking.student_code import describe_exception
from course_utils.checking.verdict import CORRECT, INCORRECT, NOT_ATTEMPTED, Verdict


class MultipartProblem(Problem):
    """Parts are exercises of their own (ids ``<id>.a``, …); the payload is ``{part: payload}``."""

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
        payload = {}
        for name, part in self.parts.items():
            try:
                payload[name] = part.collect(namespace, grading)
            except Exception as error:  # noqa: BLE001 - one part's failure is that part's verdict
                payload[name] = {"error": describe_exception(error)}
        return payload

    def judge(self, payload):
        verdicts = {name: part.judge_safely(payload.get(name, {})) for name, part in self.parts.items()}
        score = sum(v.score for v in verdicts.values())
        lines = "\n".join(f"({name}) {v}" for name, v in verdicts.items())
        statuses = {v.status for v in verdicts.values()}
        status = CORRECT if statuses == {CORRECT} else (
            NOT_ATTEMPTED if statuses == {NOT_ATTEMPTED} else INCORRECT)
        named = next((v.mistake for v in verdicts.values() if v.mistake), None)  # for the class report
        return Verdict(status, lines, score, self.points, mistake=named)

    def judge_safely(self, payload):
        try:
            return self.judge(payload)
        except Exception as error:  # noqa: BLE001
            return checker_failure(error, self.points)

    def recorded_gap(self, payload):
        if not isinstance(payload, dict):
            return "is not a record"
        for name, part in self.parts.items():
            gap = part.recorded_gap(payload.get(name, {}))
            if gap is not None:
                return f"for part ({name}) {gap}"
        return None
