"""The copy of ``course_utils`` a grading kernel imports: the course without its answer key.

A student's notebook runs with the course's package importable (the demos, the references, the
model and the checker's ``collect`` half are the course). What the kernel must not hold is what
decides a grade: the hidden tests and whatever computes an expected answer. This module builds,
once per worker process, a copy in which

* every assignment to a ``*hidden*`` name in an exercise module is ``[]`` (as in the graded
  release's wheel, ``student_package.strip_hidden``): the grader writes each exercise's hidden
  tests into its test cell instead (``course_utils.checking.hidden_tests``);
* every answer-key method of an exercise (``expected``, the ``@mistake`` methods, ``judge``,
  ``judge_probe``, ``diagnose``, ``wrong_form``, ``figure``) raises ``AnswerKeyAbsent``;
* ``checking/answer_key.py`` says ``AVAILABLE = False``: ``check()`` says the grader judges and
  the test cells only record.

``overlay_args()`` gives bubblewrap the binds that put the copy over ``course_utils`` (and the
bundled model back into it) inside the sandbox; the fresh kernel and the template (hence every
fork) get the same. The copy lives in a private temporary folder of the worker, removed at exit;
it holds nothing secret (it is the graded release's package, less), so the sandbox's unprivileged
uid may read it. The judge, in the worker, keeps the full package.
"""
from __future__ import annotations

import ast
import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

from grader.course_release.student_package import strip_hidden

ANSWER_KEY_METHODS = {"expected", "judge", "judge_probe", "diagnose", "wrong_form", "figure"}
RAISE = "raise AnswerKeyAbsent(ABSENT)"
IMPORT = "from course_utils.checking.answer_key import ABSENT, AnswerKeyAbsent  # grading kernel's copy\n"


def _is_mistake(node) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "mistake":
            return True
    return False


def strip_answer_key(source: str) -> str:
    """``source`` with the body of every answer-key method (see the module's docstring) replaced
    by one ``raise AnswerKeyAbsent``; signatures and decorators stay, so the classes still load."""
    tree = ast.parse(source)
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    item.name in ANSWER_KEY_METHODS or _is_mistake(item)):
                first, last = item.body[0], item.body[-1]
                spans.append((first.lineno, first.col_offset, last.end_lineno, last.end_col_offset))
    if not spans:
        return source
    lines = source.splitlines(keepends=True)
    for start, col, end, end_col in sorted(spans, reverse=True):  # from the bottom: offsets stay valid
        head, tail = lines[start - 1][:col], lines[end - 1][end_col:]
        lines[start - 1:end] = [head + RAISE + tail]
    stripped = _after_future_imports("".join(lines))
    ast.parse(stripped)  # still Python
    return stripped


def _after_future_imports(source: str) -> str:
    """``source`` with ``IMPORT`` placed after its docstring and ``from __future__`` imports."""
    tree = ast.parse(source)
    at = 0
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant)
        if (isinstance(node, ast.ImportFrom) and node.module == "__future__") or (docstring and at == 0):
            at = node.end_lineno
        else:
            break
    lines = source.splitlines(keepends=True)
    return "".join(lines[:at] + [IMPORT] + lines[at:])


def build(package: Path, into: Path) -> Path:
    """Copy ``package`` (``course_utils``) into ``into`` without the model and strip it; returns
    the copy's folder (an empty ``models`` folder stands where the model is bound back)."""
    copy = into / package.name
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "models"))
    (copy / "models").mkdir()
    for module in sorted((copy / "lessons").glob("*.py")):
        text = module.read_text(encoding="utf-8")
        module.write_text(strip_answer_key(strip_hidden(text)), encoding="utf-8")
    flag = copy / "checking" / "answer_key.py"
    text = flag.read_text(encoding="utf-8")
    if "\nAVAILABLE = True\n" not in text:
        raise RuntimeError(f"{flag} no longer declares AVAILABLE = True; the kernel copy cannot be marked")
    flag.write_text(text.replace("\nAVAILABLE = True\n", "\nAVAILABLE = False\n"), encoding="utf-8")
    for path in [into, *into.rglob("*")]:  # readable by the sandbox's own uid, writable by none
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    return copy


def package_dir() -> Path:
    """The real path of the ``course_utils`` this process imports (the judge's full copy)."""
    import course_utils

    return Path(os.path.realpath(course_utils.__file__)).parent


@functools.lru_cache(maxsize=None)
def kernel_copy() -> Path:
    """This process's stripped copy, built on first use and removed when the process exits."""
    into = Path(tempfile.mkdtemp(prefix="course-kernel-package-"))
    atexit.register(_remove, into)
    return build(package_dir(), into)


def _remove(folder: Path):
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            os.chmod(path, 0o755)
    shutil.rmtree(folder, ignore_errors=True)


def overlay_args() -> list[str]:
    """bwrap's binds, after every other mount: the stripped copy over ``course_utils``, then the
    bundled model back into it (read-only both)."""
    package = package_dir()
    return ["--ro-bind", str(kernel_copy()), str(package),
            "--ro-bind", str(package / "models"), str(package / "models")]
