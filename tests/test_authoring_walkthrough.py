"""docs/AUTHORING.md's "Add an exercise in five minutes", kept honest: the two declarations it
shows are read from the doc and run as written (each at most 30 lines), then graded on a right
answer, an answer with each named mistake, and no answer, in the student's kernel and by the
grader's judge (hidden probe included)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import course_utils.checking as checking
from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, ____

DOC = Path(__file__).resolve().parent.parent / "docs" / "AUTHORING.md"


def declaration(title: str) -> str:
    """The ```python block after ``<!-- walkthrough: title -->`` in the doc."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- walkthrough: {title} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"docs/AUTHORING.md has no walkthrough block {title!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def exercises(tokenizer):
    namespace = {name: getattr(checking, name) for name in checking.__all__}
    for title in ("value exercise", "function exercise"):
        code = declaration(title)
        assert len(code.strip().splitlines()) <= 30, f"the {title} takes more than 30 lines"
        exec(compile(code, f"AUTHORING.md ({title})", "exec"), namespace)
    bound = {}
    assert checking.bind_exercises(bound, [namespace["TokenCount"], namespace["FirstPiece"]]) == ["q1", "q2"]
    return bound


def test_value_exercise(exercises, tokenizer):
    q1 = exercises["q1"]
    assert q1.verdict({"n_tokens": len(tokenizer.encode("TensorFlow tokenization"))}).status == CORRECT
    words = q1.verdict({"n_tokens": 2})
    assert words.status == INCORRECT and "counted words" in words.message
    characters = q1.verdict({"n_tokens": len("TensorFlow tokenization")})
    assert characters.status == INCORRECT and "counted characters" in characters.message
    assert q1.verdict({"n_tokens": ____}).status == NOT_ATTEMPTED
    assert q1.verdict({}).status == NOT_ATTEMPTED
    assert q1.judge_recorded({"value": 2}).status == INCORRECT


def test_function_exercise(exercises, tokenizer):
    q2 = exercises["q2"]
    right = {"first_piece": lambda text: tokenizer.tokenize(text)[0]}
    assert q2.verdict(right).status == CORRECT
    assert q2.judge_recorded(q2.collect(right, grading=True)).status == CORRECT
    word = q2.verdict({"first_piece": lambda text: text.split()[0]})
    assert word.status == INCORRECT and "first word" in word.message
    # The decoded piece equals the token on the public probe (no leading space): only the hidden
    # probe tells the mistake apart, and names it by number only.
    decoded = {"first_piece": lambda text: tokenizer.decode(tokenizer.encode(text)[:1])}
    assert q2.verdict(decoded).status == CORRECT
    graded = q2.judge_recorded(q2.collect(decoded, grading=True))
    assert graded.status == INCORRECT and "hidden test 2: That is the decoded piece" in graded.message
    assert "hello" not in graded.message

    def stub(text):
        pass

    assert q2.verdict({"first_piece": stub}).status == NOT_ATTEMPTED
    assert q2.verdict({"first_piece": ____}).status == NOT_ATTEMPTED
    assert q2.solution_code == ""   # no source cell yet: nothing to show


def test_the_walkthrough_lesson_is_no_real_lesson(exercises):
    # The example's ids must never shadow, or be shadowed by, a real exercise.
    from course_utils.checking import solutions

    lessons = {problem.id.split(".", 1)[0] for problem in exercises.values()}
    assert len(lessons) == 1
    lesson = lessons.pop()
    assert not (Path(checking.__file__).parents[1] / "lessons" / f"{lesson}.py").exists()
    assert not solutions.source_notebook(lesson).exists()


# -- the conventions the doc states, against the seven lessons ------------------------------------
SOURCES = Path(__file__).resolve().parent.parent / "grader" / "course" / "source"


def source_lessons() -> list[str]:
    return sorted(path.name for path in SOURCES.iterdir() if re.fullmatch(r"lesson\d+", path.name))


def test_the_cells_the_doc_names_are_the_sources_cells():
    import json

    documented = {int(k): grade_id for k, grade_id in
                  re.findall(r"^\* Cell (\d+) \([^)]*`grade_id: (\w+)`\)", DOC.read_text(encoding="utf-8"), re.M)}
    assert {2: "install", 3: "setup"}.items() <= documented.items(), documented
    for lesson in source_lessons():
        cells = json.loads((SOURCES / lesson / f"{lesson}.ipynb").read_text(encoding="utf-8"))["cells"]
        for k, grade_id in documented.items():
            assert cells[k - 1]["metadata"]["nbgrader"]["grade_id"] == grade_id, (lesson, k)
        setup = "".join(cells[2]["source"])
        assert f"from course_utils.lessons.{lesson} import *" in setup, lesson


def test_every_exercise_is_declared_where_the_doc_says():
    import fnmatch
    import importlib

    row = next(line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| checks module"))
    places = [p.replace("lessonN", "{lesson}") for p in re.findall(r"`(course_utils/lessons/[^`]+\.py)`", row)]
    assert len(places) >= 2, row   # the lesson's module and its helpers
    root = Path(checking.__file__).resolve().parents[2]
    for lesson in source_lessons():
        module = importlib.import_module(f"course_utils.lessons.{lesson}")
        for name in module.qvars:
            kind = type(getattr(module, name))
            where = Path(importlib.import_module(kind.__module__).__file__).resolve().relative_to(root).as_posix()
            assert any(fnmatch.fnmatch(where, p.format(lesson=lesson)) for p in places), (
                f"{lesson}.{name} ({kind.__name__}) is declared in {where}, which docs/AUTHORING.md does not name")
