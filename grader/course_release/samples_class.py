"""A synthetic class: N submissions per lesson whose grades are known before they are graded.

``python -m grader.samples --class N [--lessons ...] [--seed S] [--out DIR]`` writes
``DIR/submissions/<student>/<lesson>.ipynb`` and ``DIR/expected.json``, what the report must count.
Each student's notebook of a lesson is, chosen from the seed: ``complete`` (the sources'
solutions), ``partial`` (the first half of the exercises), ``blank`` (the release as handed out)
or ``wrong``: every exercise whose declared mistakes can be injected gets one of them, the others
the solution. A mistake is injected with the wrong answer the ``@mistake`` method itself computes,
on the loaded model: for a value exercise the wrong value; for a function exercise the solution
wrapped so that it returns (or, for a generator, yields), on each test's arguments, the mistake's
output (a table keyed by the arguments: plain data as such, a model by its type). A mistake is
used only where the judge must name that very mistake (no earlier-declared one gives the same
answer on the first test it changes), so the expected counts are exact.
"""
from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from course_utils.checking.nbgrader_cells import is_test_cell
from grader.pipeline.assemble import grade_id_of, problem_id
from grader.course_release.release import dumps, generate
from grader.course_release.samples import answered, solutions

KINDS = ("complete", "wrong", "partial", "blank")
_SENTINEL = object()


def injectable_mistakes(problem) -> dict[str, str]:
    """``{stable mistake id: the code that replaces the answer cell's end}`` for ``problem``."""
    from course_utils.checking.function import FunctionProblem
    from course_utils.checking.mistakes import declared_mistakes
    from course_utils.checking.value import ValueProblem

    found = {}
    for name, _ in declared_mistakes(type(problem)) if hasattr(problem, "first_mistake") else ():
        try:
            if isinstance(problem, ValueProblem):
                code = _value_mistake(problem, name)
            elif isinstance(problem, FunctionProblem):
                code = _function_mistake(problem, name)
            else:
                code = None
        except Exception:  # noqa: BLE001 - a mistake that cannot be computed here is not injected
            code = None
        if code is not None:
            found[f"{problem.id}:{name}"] = code
    return found


def _plain_literal(value) -> str:
    from course_utils.checking.convert import to_plain

    return f"json.loads({json.dumps(to_plain(value))!r})"


def _value_mistake(problem, name: str) -> str | None:
    wrong, expected = getattr(problem, name)(), problem.expected()
    if wrong is None or problem.same(wrong, expected):
        return None
    named = problem.first_mistake(wrong, expected)
    if named is None or named[0] != f"{problem.id}:{name}":
        return None
    return f"import json\n{problem.var} = {_plain_literal(wrong)}   # the mistake {name}"


# How a probe's arguments become a table key, the same in the planning process and the kernel:
# plain data as JSON, anything else (the model) by its type's name, which both processes share.
_KEY = "json.dumps([list(args), kwargs], sort_keys=True, default=lambda v: f'<{type(v).__name__}>')"


def _probe_key(args, kwargs) -> str:
    # The very text the notebook's wrapper runs, so that the two keys cannot drift apart.
    return eval(_KEY, {"json": json}, {"args": args, "kwargs": kwargs})  # noqa: S307 - our constant


def _call_shape(problem, spec) -> tuple[str, list | None] | None:
    """``(key, prefix)`` of the one call ``run_probe`` makes to the student's function: its
    arguments' key, and for a generator exercise what ``run_probe`` puts before the yielded values
    (None: the function's return value is the answer). None when no table can stand in for it."""
    seen = []

    def returns_marker(*args, **kwargs):
        seen.append(_probe_key(args, kwargs))
        return _SENTINEL

    def yields_marker(*args, **kwargs):
        seen.append(_probe_key(args, kwargs))
        return (marker for marker in [_SENTINEL])

    if problem.run_probe(returns_marker, spec) is _SENTINEL and len(seen) == 1:
        return seen[0], None
    seen.clear()
    streamed = problem.run_probe(yields_marker, spec)
    if len(seen) != 1 or not isinstance(streamed, list) or streamed.count(_SENTINEL) != 1 or streamed[-1] is not _SENTINEL:
        return None
    return seen[0], streamed[:-1]


def _call_shapes(problem) -> list[tuple] | None:
    """``[(spec, key, prefix)]`` for every probe, or None when some probe's call cannot be stood in
    for or two probes share a key (a tensor argument is keyed by its type: the table could not tell
    them apart, and an answer meant for one test would reach another)."""
    shapes = []
    for spec in list(problem.public_probes) + list(problem.hidden_probes):
        shape = _call_shape(problem, spec)
        if shape is None:
            return None
        shapes.append((spec, *shape))
    return shapes if len({key for _, key, _ in shapes}) == len(shapes) else None


def _function_mistake(problem, name: str) -> str | None:
    table, first_changed, generator = {}, None, None
    for spec, key, prefix in _call_shapes(problem) or ():
        wrong, expected = getattr(problem, name)(spec), problem.expected(spec)
        if wrong is None or problem.same(wrong, expected):
            continue
        if first_changed is None:
            named = problem.first_mistake(wrong, expected, spec)
            if named is None or named[0] != f"{problem.id}:{name}":
                return None
            first_changed, generator = spec, prefix is not None
        if prefix is not None:  # a generator: it yields what follows run_probe's own prefix
            if not isinstance(wrong, list) or wrong[:len(prefix)] != prefix:
                return None
            wrong = wrong[len(prefix):]
        table[key] = wrong
    if not table:
        return None
    var = problem.var
    # A generator expression, so that the student's function still returns a generator.
    returned = f"(value for value in _mistake_{var}[key])" if generator else f"_mistake_{var}[key]"
    return (f"import json\n_right_{var} = {var}\n_mistake_{var} = {_plain_literal(table)}\n\n"
            f"def {var}(*args, **kwargs):   # the mistake {name}, on the tests' arguments\n"
            f"    key = {_KEY}\n"
            f"    if key in _mistake_{var}:\n        return {returned}\n"
            f"    return _right_{var}(*args, **kwargs)")


def exercises(release, lesson: str) -> list[tuple[str, str]]:
    """``[(test cell grade id, problem id)]`` of a release, in notebook order."""
    found = []
    for cell in release.cells:
        if is_test_cell(cell) and cell.cell_type == "code":
            found.append((grade_id_of(cell), problem_id(lesson, cell)))
    return found


def plan_class(n: int, lessons: list[str], seed: int = 0) -> tuple[dict, dict]:
    """``(submissions, expected)``: ``{"<student>/<lesson>.ipynb": text}`` and, per student and
    lesson, the kind and ``{test grade id: {"status", "mistake"}}``."""
    from course_utils.checking.registry import get_problem

    rng = random.Random(seed)
    releases = generate(list(lessons))
    texts, expected = {}, {}
    for lesson in lessons:
        release, tests = releases[lesson], exercises(releases[lesson], lesson)
        injectable = {gid: injectable_mistakes(get_problem(pid)) for gid, pid in tests}
        solved = solutions(lesson)
        for k in range(n):
            student = f"s{k + 1:03d}"
            kind = KINDS[k % len(KINDS)] if k < len(KINDS) else rng.choice(KINDS)
            replace, outcome = {}, {}
            for i, (gid, pid) in enumerate(tests):
                answer = f"{gid}_answer"
                mistakes = sorted(injectable[gid])
                if kind == "blank" or (kind == "partial" and i >= len(tests) // 2):
                    outcome[gid] = {"status": "Not attempted", "mistake": None}
                elif kind == "wrong" and mistakes:
                    chosen = mistakes[rng.randrange(len(mistakes))]
                    replace[answer] = solved[answer] + "\n\n" + injectable[gid][chosen]
                    outcome[gid] = {"status": "Incorrect", "mistake": chosen}
                else:
                    replace[answer] = solved[answer]
                    outcome[gid] = {"status": "Correct", "mistake": None}
            texts[f"{student}/{lesson}.ipynb"] = dumps(answered(release, lesson, which=(), replace=replace))
            expected.setdefault(student, {})[lesson] = {"kind": kind, "tests": outcome}
    return texts, expected


def write_class(n: int, out_dir: Path, lessons: list[str] | None = None, seed: int = 0) -> Path:
    """Writes ``out_dir/submissions`` and ``out_dir/expected.json``; returns the submissions folder."""
    from grader.pipeline.files import write_atomically
    from grader.course_release.release import lessons as all_lessons

    texts, expected = plan_class(n, lessons or all_lessons(), seed)
    for name, text in texts.items():
        write_atomically(Path(out_dir) / "submissions" / name, text)
    write_atomically(Path(out_dir) / "expected.json", json.dumps(expected, indent=1, sort_keys=True))
    return Path(out_dir) / "submissions"


def planned_counts(expected: dict) -> dict:
    """``{(lesson, exercise, what, value): sorted students}`` that a class's ``expected.json``
    plans: each test's status, and each injected mistake (what the class report must count)."""
    counts = defaultdict(list)
    for student, lessons in expected.items():
        for lesson, plan in lessons.items():
            for exercise, outcome in plan["tests"].items():
                counts[(lesson, exercise, "status", outcome["status"])].append(student)
                if outcome["mistake"]:
                    counts[(lesson, exercise, "mistake", outcome["mistake"])].append(student)
    return {key: sorted(students) for key, students in counts.items()}
