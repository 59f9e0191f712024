"""The student package for a graded class: the course without its secrets, as a wheel.

    python -m grader student-package --out DIST

The repository's own package (``pip install .``) is made for self-study: ``qK.solution()`` shows
the solution, read from the nbgrader sources it ships, and the hidden tests are in the exercise
modules for anyone to read. For a graded class the instructor hands out this wheel instead. It is
built from a copy of the repository in which

* the ``grader`` package is left out entirely: no nbgrader sources (the solutions), no samples,
  no grading code (``solution()`` then says the solution is not available in this release);
* in every exercise module, each assignment of hidden tests (``hidden_probes = [...]``, a constant
  such as ``HIDDEN_PROBES = ...``: ``is_hidden_tests_name``) is replaced by an empty list, so the hidden tests exist only
  on the instructor's side. Students' ``check()`` runs the public tests as before; the grader,
  installed from the full repository, runs the hidden ones.

Hints, the references, the model and the tokenizer stay: they are the course.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEPT = ["course_utils", "pyproject.toml", "README.md"]
STRIPPED = "[]  # hidden tests: kept on the instructor's side in a graded release"


def is_hidden_tests_name(name: str) -> bool:
    """An exercise's ``hidden_probes`` (or ``hidden_cases`` / ``hidden_tests``), or a module constant
    holding hidden tests (``HIDDEN_PROBES``, ``HEAD_HIDDEN``); not a name that merely mentions
    "hidden" (``hidden_0``, ``final_hidden``: hidden states)."""
    return re.fullmatch(r"hidden_(probes|cases|tests)", name) is not None or (name.isupper() and "HIDDEN" in name)


def strip_hidden(source: str) -> str:
    """``source`` with the value of every assignment to a ``*hidden*`` name replaced by ``[]``."""
    tree = ast.parse(source)
    spans = []
    for node in ast.walk(tree):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else [])
        if any(isinstance(t, ast.Name) and is_hidden_tests_name(t.id) for t in targets):
            spans.append((node.value.lineno, node.value.col_offset, node.value.end_lineno, node.value.end_col_offset))
    lines = source.splitlines(keepends=True)
    for start, col, end, end_col in sorted(spans, reverse=True):  # from the bottom: offsets stay valid
        head, tail = lines[start - 1][:col], lines[end - 1][end_col:]
        lines[start - 1:end] = [head + STRIPPED + tail]
    stripped = "".join(lines)
    ast.parse(stripped)  # still Python
    return stripped


def student_pyproject(text: str) -> str:
    """The project file without the grader: only ``course_utils`` and its data, no console script."""
    out, skip_table = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            skip_table = stripped == "[project.scripts]"
        if skip_table:
            continue
        if stripped.startswith("include = ") and "grader*" in stripped:
            line = 'include = ["course_utils*"]'
        if stripped.startswith("grader = [") and "course/source" in stripped:
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def prepare(build_dir: Path) -> Path:
    """Copy what the student package needs into ``build_dir`` and strip it; returns the folder."""
    for name in KEPT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, build_dir / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, build_dir / name)
    pyproject = build_dir / "pyproject.toml"
    pyproject.write_text(student_pyproject(pyproject.read_text(encoding="utf-8")), encoding="utf-8")
    for module in sorted((build_dir / "course_utils" / "lessons").glob("*.py")):
        module.write_text(strip_hidden(module.read_text(encoding="utf-8")), encoding="utf-8")
    return build_dir


def build(out_dir: str | os.PathLike) -> Path:
    """Build the graded-release wheel into ``out_dir``; returns the wheel's path."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-student-") as tmp:
        folder = prepare(Path(tmp) / "src")
        before = set(out_dir.glob("*.whl"))
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out_dir),
                                 str(folder)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building the student wheel failed:\n{result.stderr[-3000:]}")
    built = sorted(set(out_dir.glob("*.whl")) - before) or sorted(out_dir.glob("decoding_course-*.whl"))
    return built[-1]
