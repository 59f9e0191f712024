"""The graded-release wheel (grader.course_release.student_package): no solutions, no hidden tests, still a course."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.course_release import student_package

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "course_utils" / "lessons").glob("lesson[0-9].py"))


def test_strip_hidden_empties_every_hidden_assignment_and_nothing_else():
    source = ('HIDDEN_PROBES = [\n    {"prompt": "secret one"},\n    "secret two",\n]\n'
              'class Q:\n    public_probes = ["shown"]\n    hidden_probes = HIDDEN_PROBES\n'
              '    hidden_cases: list = ["secret three"]\n    def f(self):\n        return "kept"\n'
              'final_hidden = "a hidden state, kept"\nhidden_0 = "kept too"\n')
    stripped = student_package.strip_hidden(source)
    assert "secret" not in stripped and '"shown"' in stripped and '"kept"' in stripped
    namespace = {}
    exec(stripped, namespace)
    assert namespace["HIDDEN_PROBES"] == [] and namespace["Q"].hidden_probes == []
    assert namespace["Q"].public_probes == ["shown"]
    assert namespace["final_hidden"] == "a hidden state, kept" and namespace["hidden_0"] == "kept too"


def _strings(value):
    """Every string (and every list of ints, as text) inside a probe."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(v, int) for v in value):
            yield repr(list(value))
        for item in value:
            yield from _strings(item)


def _hidden_probe_strings():
    """Strings that the exercise modules hold only in their hidden tests (a prompt that is also a
    public one is no secret): none of them may reach a student."""
    found = set()
    public = "".join(student_package.strip_hidden(p.read_text())
                     for p in (ROOT / "course_utils").rglob("*.py"))
    for lesson in LESSONS:
        module = importlib.import_module(f"course_utils.lessons.{lesson}")
        for value in vars(module).values():
            for probe in getattr(value, "hidden_probes", None) or []:
                found.update(s for s in _strings(probe) if len(s) >= 4 and s not in public)
    return found


def _solution_regions():
    regions = []
    for notebook in sorted((ROOT / "grader" / "course" / "source").glob("*/*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            text = "".join(cell["source"])
            if "### BEGIN SOLUTION" in text:
                region = text.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
                regions.append((notebook.stem, region.strip()))
    return regions


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return student_package.build(tmp_path_factory.mktemp("dist"))


def test_the_wheel_carries_no_solution_and_no_hidden_test(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        texts = {n: archive.read(n).decode("utf-8", "replace") for n in names if n.endswith((".py", ".json", ".md"))}
    assert not [n for n in names if n.startswith("grader/") or n.endswith(".ipynb")]
    assert any(n.endswith("model.safetensors") for n in names)          # the course is all there
    assert any(n.endswith("lessons/lesson1.py") for n in names)
    hidden = _hidden_probe_strings()
    assert hidden, "no hidden probes found to look for"
    leaks = [(s, n) for s in hidden for n, text in texts.items() if s in text]
    assert not leaks, f"hidden probes in the student wheel: {leaks[:5]}"
    # A one-line solution that is the course's own reference code (``return logits / temperature``
    # is reference.pt.apply_temperature) is public by design: the references are what lessons teach.
    references = "".join(p.read_text() for p in (ROOT / "course_utils" / "reference").glob("*.py"))
    regions = [(lesson, region) for lesson, region in _solution_regions() if region not in references]
    assert len(regions) >= 15
    leaks = [(lesson, region[:60]) for lesson, region in regions for text in texts.values() if region in text]
    assert not leaks, f"solutions in the student wheel: {leaks[:5]}"


def test_installed_it_checks_public_tests_and_has_no_solutions(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True)
    code = ("import course_utils, inspect\n"
            "from course_utils.lessons import lesson1\n"
            "assert course_utils.__file__.startswith(%r), course_utils.__file__\n"
            "from course_utils.checking import FunctionProblem\n"
            "hidden = [getattr(v, 'hidden_probes', []) for v in vars(lesson1).values() if isinstance(v, FunctionProblem)]\n"
            "assert hidden and not any(hidden), hidden\n"
            "lesson1.q1.solution()\n"
            "vocab_size = len(course_utils.load_tokenizer())\n"
            "print('VERDICT', lesson1.q1.check())\n") % str(target)
    env = {**os.environ, "PYTHONPATH": str(target), "COURSE_MODEL": "course", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not available in this release" in result.stdout
