"""What a test cell the grader places runs: the exercise named by its id, watched while it collects.

The release's test cell says ``q3.grade()``; the grader runs ``graded_cell.run("lesson3.q3",
nonce=..., hidden=...)`` in its place (``records.seal_test_cells``). The exercise is the lesson
module's own object, found by its id (``registry.get_problem``), never the notebook's global
``q3``: a student's scratch ``q1, q3 = np.percentile(...)`` is just a variable.

Around ``collect``, this code gathers *evidence* from what runs, not from the notebook's text, and
puts it in the answer record (``evidence``), where the grader reads it:

* ``hooks``: a trace or profile function was set at entry or at exit (``sys.gettrace`` /
  ``sys.getprofile``, as this module found them when the course was imported), or the kernel's
  audit hook (``grader/sandbox/kernel_limits.py``, installed before any student code) saw
  ``sys.settrace`` / ``sys.setprofile`` called while ``collect`` ran (``from sys import
  setprofile`` included: the audit event is raised by CPython itself). Such a hook sees and can
  rewrite every frame of the checker; an exercise collected under one earns nothing.
* ``code``: an answering function's ``__code__`` (``borrowed.reference_names``) is not the code
  compiled from its own module's file, at entry or at exit: the watch on it would see nothing.
* ``audit``: whether the kernel's audit hook answered, and what it counted (``ctypes``): notes.
"""
from __future__ import annotations

import functools
import sys
import types

from course_utils.checking import hidden_tests
from course_utils.checking.records import emit_answer_record
from course_utils.checking.student_code import describe_exception

AUDIT_EVENT = "course.grading.evidence"  # answered by the kernel's audit hook (kernel_limits.py)
_GETTRACE, _GETPROFILE, _AUDIT = sys.gettrace, sys.getprofile, sys.audit  # before any student cell


def run(problem_id: str, nonce: str | None = None, hidden: str = ""):
    """Collect the answer to ``problem_id`` from the notebook and record it, with the evidence."""
    from course_utils.checking.notebook import user_namespace
    from course_utils.checking.problem import _discarded_output
    from course_utils.checking.registry import get_problem

    problem = get_problem(problem_id)
    functions = _answering_functions(problem)
    entry = _hooks("entry") + _foreign_code(functions, "entry")
    counted = audit_counts()
    try:
        # The class's collect, not one set on the instance; what the student's code prints is not
        # kept (no page shows a test cell's output, and a flood must not crowd out the record).
        with hidden_tests.lent(problem, hidden), _discarded_output():
            payload = type(problem).collect(problem, user_namespace(), grading=True)
    except Exception as error:  # noqa: BLE001 - the student's error is the answer's
        payload = {"error": describe_exception(error)}
    after = audit_counts()
    found = entry + _hooks("exit") + _foreign_code(functions, "exit") + _hooks_set_between(counted, after)
    evidence = {"hooks": found, "audit": after is not None,
                "ctypes": 0 if None in (counted, after) else after["ctypes"] - counted["ctypes"]}
    emit_answer_record(problem.id, payload, nonce, evidence=evidence)
    print(f"{problem.name}: your answer was recorded; the grader judges it.")


def audit_counts() -> dict | None:
    """What the kernel's audit hook has counted so far (``{event: count}``), or None without one."""
    box: list = []
    if type(_AUDIT) is types.BuiltinFunctionType and getattr(_AUDIT, "__self__", None) is sys:
        _AUDIT(AUDIT_EVENT, box)
    return dict(box[0]) if len(box) == 1 and isinstance(box[0], dict) else None


def _hooks(when: str) -> list[str]:
    found = []
    if _GETTRACE() is not None:
        found.append(f"a trace function (sys.settrace) was set at the {when} of collect")
    if _GETPROFILE() is not None:
        found.append(f"a profile function (sys.setprofile) was set at the {when} of collect")
    return found


def _hooks_set_between(before: dict | None, after: dict | None) -> list[str]:
    if before is None or after is None:
        return []
    return [f"`{event}` was called while the answer was collected"
            for event in ("sys.settrace", "sys.setprofile") if after.get(event, 0) != before.get(event, 0)]


def _answering_functions(problem) -> list:
    from course_utils.checking.borrowed import reference_functions, reference_names

    try:
        return reference_functions(reference_names(problem))
    except Exception:  # noqa: BLE001 - an exercise without declared answers watches none
        return []


def _foreign_code(functions, when: str) -> list[str]:
    """Each answering function whose code is not its own module's, at ``when``."""
    return [f"the code of `{function.__qualname__}` was replaced (at the {when} of collect)"
            for function in functions if not grader_code(function)]


def grader_code(function) -> bool:
    """Whether ``function.__code__`` is the code its module's file compiles to (bytecode, names,
    constants' shape): a ``__code__`` swapped in by the notebook is not."""
    code = function.__code__
    original = _compiled(function.__globals__.get("__file__") or "", code.co_firstlineno,
                         getattr(code, "co_qualname", code.co_name))
    return original is not None and code.co_filename == original.co_filename and _same(code, original)


def _same(code, original) -> bool:
    return (code.co_code == original.co_code and code.co_names == original.co_names
            and code.co_varnames == original.co_varnames and len(code.co_consts) == len(original.co_consts))


@functools.lru_cache(maxsize=None)
def _module_code(path: str):
    try:
        with open(path, encoding="utf-8") as source:
            return compile(source.read(), path, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return None


def _compiled(path: str, line: int, qualname: str):
    """The code object compiled from ``path`` that starts at ``line`` with ``qualname``, or None."""
    pending = [_module_code(path)] if path.endswith(".py") else []
    while pending:
        code = pending.pop()
        if code is None:
            continue
        if code.co_firstlineno == line and getattr(code, "co_qualname", code.co_name) == qualname:
            return code
        pending.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return None
