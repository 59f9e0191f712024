"""The copy of ``course_utils`` a grading kernel imports: the course without its answer key.

A student's notebook runs with the course's package importable (the demos, the references, the
model and the checker's ``collect`` half are the course). What the kernel must not hold is what
decides a grade: the hidden tests and whatever computes an expected answer. This module builds,
once per version of the sources, a copy in which

* every assignment of hidden tests in an exercise module is ``[]`` (as in the graded
  release's wheel, ``student_package.strip_hidden``): the grader writes each exercise's hidden
  tests into its test cell instead (``course_utils.checking.hidden_tests``);
* every answer-key method of an exercise (``expected``, the ``@mistake`` methods, ``judge``,
  ``judge_probe``, ``diagnose``, ``wrong_form``, ``figure``) raises ``AnswerKeyAbsent``;
* ``checking/answer_key.py`` says ``AVAILABLE = False``: ``check()`` says the grader judges and
  the test cells only record.

``overlay_args()`` gives bubblewrap the binds that put the copy over ``course_utils`` (and the
bundled model back into it) inside the sandbox; the fresh kernel and the template (hence every
fork) get the same. The copy lives in the host's temporary folder, named by the user and the
sources' digest, shared by the workers, made by this user and writable by nobody (``kernel_copy``);
it holds nothing secret (it is the graded release's package, less), so the sandbox's unprivileged
uid may read it. The judge, in the worker, keeps the full package.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import shutil
import stat
import tempfile
import time
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


def source_digest(package: Path) -> str:
    """SHA-256 of the package's files (but the model's): what the copy is made from."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if path.is_file() and relative.parts[0] != "models" and "__pycache__" not in relative.parts \
                and path.suffix != ".pyc":
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _ours(folder: Path) -> bool:
    """Whether ``folder`` is a finished copy this user made: a real folder of ours that nobody
    else can write, with its ``course_utils`` in it (a copy is renamed into place only when whole)."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022
            and (folder / "course_utils" / "checking" / "answer_key.py").is_file())


@functools.lru_cache(maxsize=None)
def kernel_copy() -> Path:
    """The stripped copy of this ``course_utils``, built once per version of its sources and shared
    by every worker of this user (``/tmp/course-kernel-package-<uid>-<digest>``): a worker that is
    killed leaves nothing behind, and copies of other versions unused for a day are removed."""
    package = package_dir()
    root = Path(tempfile.gettempdir())
    prefix = f"course-kernel-package-{os.geteuid()}-"
    target = root / (prefix + source_digest(package)[:24])
    if not _ours(target):
        building = Path(tempfile.mkdtemp(prefix=prefix + "building-", dir=root))
        build(package, building)
        try:
            os.rename(building, target)          # atomic: a copy is never seen half-made
        except OSError:                          # another worker put one there first
            _remove(building)
        if not _ours(target):
            raise RuntimeError(f"{target} is not a copy this user made; remove it and grade again")
    os.utime(target)                             # in use: not pruned by a grader of another version
    _prune(root, prefix, keep=target)
    return target / "course_utils"


def _prune(root: Path, prefix: str, keep: Path, age_s: float = 86400):
    for folder in root.glob(prefix + "*"):
        try:
            old = time.time() - os.lstat(folder).st_mtime > age_s
        except FileNotFoundError:
            continue
        if folder != keep and old and _ours(folder) or (folder != keep and "building-" in folder.name and old):
            _remove(folder)


def _remove(folder: Path):
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o755)
    shutil.rmtree(folder, ignore_errors=True)


def overlay_args() -> list[str]:
    """bwrap's binds, after every other mount: the stripped copy over ``course_utils``, then the
    bundled model back into it (read-only both)."""
    package = package_dir()
    return ["--ro-bind", str(kernel_copy()), str(package),
            "--ro-bind", str(package / "models"), str(package / "models")]
