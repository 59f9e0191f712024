"""An answer that is the course's reference implementation earns nothing (issue 18, item 1).

Lesson 5's top-p filter answered by delegating to ``course_utils.reference``: directly, through an
alias or a module attribute taken earlier, through a copy of the function object, or through a
copy of its source with the locals renamed. Each is Incorrect with 0 points and says why, under
``check()`` and under grading (hidden probes included, the trusted judge agreeing); an honest
answer stays Correct, and lesson 7's strategy, which composes the reference filters by design,
is not accused.
"""
from __future__ import annotations

import inspect
import types

import pytest

from course_utils.checking import CORRECT, INCORRECT, judge_answer
from course_utils.checking.borrowed import MESSAGE, reference_names
from course_utils.lessons import lesson5, lesson7
from course_utils.reference import pt as ref_pt

from lesson_check_helpers import bundled, check, grade  # noqa: F401 (bundled: autouse fixture)


def own_top_p(logits, p):
    import torch

    logits = torch.as_tensor(logits)
    if p == 1.0:
        return logits.clone()
    ordered, order = torch.sort(logits, dim=-1)
    cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative <= 1 - p
    drop[..., -1:] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


def pasted_source():
    """The reference's source pasted into a cell, its local names changed."""
    source = inspect.getsource(ref_pt.top_p_filter).replace("logits", "scores").replace("sorted_", "ranked_")
    namespace = dict(vars(ref_pt))
    exec(source, namespace)  # noqa: S102 - the test's own text
    return namespace["top_p_filter"]


PASTED = (inspect.getsource(ref_pt.top_p_filter).replace("logits", "scores")
          .replace("\n    return ", "\n    print('mine')\n    return ", 1))
TAKEN_EARLIER = ref_pt.top_p_filter   # a module attribute taken before the test cell
BORROWED = {
    "alias": ref_pt.top_p_filter,
    "taken_earlier": lambda logits, p: TAKEN_EARLIER(logits, p),
    "wrapper": lambda logits, p: ref_pt.top_p_filter(logits, p * 1.0),
    "function_copy": types.FunctionType(ref_pt.top_p_filter.__code__, ref_pt.top_p_filter.__globals__),
    "source_copy": pasted_source(),
}


@pytest.mark.parametrize("how", sorted(BORROWED))
def test_an_answer_that_is_the_reference_earns_nothing(how):
    answer = BORROWED[how]
    for verdict in (check(lesson5.q4, top_p_filter=answer), grade(lesson5.q4, top_p_filter=answer)):
        assert verdict.status == INCORRECT and verdict.score == 0 and MESSAGE in verdict.message, verdict
    payload = lesson5.q4.collect({"top_p_filter": answer}, grading=True)
    assert payload["reference"] == "top_p_filter"
    assert judge_answer("lesson5.q4", payload).score == 0


def test_an_honest_answer_and_a_strategy_built_on_the_filters_are_not_accused():
    assert check(lesson5.q4, top_p_filter=own_top_p).status == CORRECT
    assert "reference" not in lesson5.q4.collect({"top_p_filter": own_top_p}, grading=True)
    assert not {"top_k_filter", "top_p_filter", "apply_temperature"} & set(reference_names(lesson7.q5))
    assert ref_pt.top_p_filter.__code__.co_name == "top_p_filter"  # the watch put the code back
    assert ref_pt.top_p_filter(__import__("torch").tensor([1.0, 2.0]), 1.0).tolist() == [1.0, 2.0]


def test_the_grader_reads_answer_cells_that_delegate_to_the_reference():
    """The trusted, static half: what the student's cells bind, read by the grader, not the kernel."""
    import nbformat

    from course_utils.checking.borrowed_static import mark_reference_answers

    def cell(source, **nbgrader):
        made = nbformat.v4.new_code_cell(source)
        if nbgrader:
            made.metadata["nbgrader"] = nbgrader
        return made

    setup = cell("from course_utils.reference import pt as ref_pt", locked=True, grade_id="setup")
    demo = cell("print(ref_pt.top_p_filter(ref_pt.top_k_filter([1.0, 2.0], 1), 0.9))", locked=True, grade_id="demo")
    answers = {
        "alias": [cell("top_p_filter = ref_pt.top_p_filter", solution=True, grade_id="a")],
        "taken_earlier": [cell("nucleus = ref_pt.top_p_filter"),
                          cell("def top_p_filter(logits, p):\n    return nucleus(logits, p)", solution=True, grade_id="a")],
        "imported": [cell("from course_utils.reference.pt import top_p_filter as f\n"
                          "def top_p_filter(logits, p):\n    return f(logits, p)", solution=True, grade_id="a")],
        "getattr": [cell("import course_utils.reference.pt as R\ntop_p_filter = getattr(R, 'top_p_' + 'filter')",
                         solution=True, grade_id="a")],
        "honest": [cell(inspect.getsource(own_top_p).replace("own_top_p", "top_p_filter"), solution=True, grade_id="a")],
        # the reference's source pasted, renamed, a line added: no reference name in the cell
        "pasted": [cell(PASTED, solution=True, grade_id="a")],
    }
    for how, cells in answers.items():
        entries = [{"problem": "lesson5.q4", "score": 1.0, "status": CORRECT, "message": ""},
                   {"problem": "lesson7.q5", "score": 1.0, "status": CORRECT, "message": ""}]
        strategy = cell("def my_generate(model, ids, **kw):\n    return ref_pt.top_k_filter(ids, 2)",
                        solution=True, grade_id="b")
        notes = mark_reference_answers([setup, demo, *cells, strategy], entries)
        if how == "honest":
            assert entries[0]["score"] == 1.0 and notes == [], how
        elif how == "pasted":   # text that reads like the reference is a note naming it, never a zero (issue 31)
            assert entries[0]["score"] == 1.0 and len(notes) == 1 and "`top_p_filter`" in notes[0], (how, notes)
        else:
            assert entries[0]["score"] == 0 and MESSAGE in entries[0]["message"], how
        assert entries[1]["score"] == 1.0, how   # composes the filters by design; demos may use them


def test_no_solution_of_the_course_reads_as_a_copy_of_its_reference():
    """The source-shape reading (``borrowed_shape``) stays clear of honest work: every solution in
    the source notebooks is below the mark for each reference that answers its exercise."""
    import ast

    import nbformat

    from course_utils.checking import hidden_tests
    from course_utils.checking.borrowed_shape import SIMILAR, similarity
    from course_utils.checking.registry import get_problem
    from course_utils.reference import framework_free, tf as ref_tf  # noqa: F401 (loaded: compared too)
    from grader.course_release.release import SOURCE_DIR

    compared = 0
    for path in sorted(SOURCE_DIR.glob("lesson*/lesson*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if not (meta.get("solution") and cell.cell_type == "code"):
                continue
            lesson, _, rest = meta["grade_id"].removesuffix("_answer").partition("_")
            problem = get_problem(f"{lesson}.{rest.replace('_', '.')}")
            names = {n for m in hidden_tests.members(problem) if getattr(m, "var", "") for n in reference_names(m)}
            source = "\n".join(line for line in cell.source.splitlines() if "### " not in line)
            for node in ast.parse(source).body:
                if isinstance(node, ast.FunctionDef):
                    ratio, reference = similarity(node, names)
                    compared += reference is not None
                    assert ratio < SIMILAR, (meta["grade_id"], reference, ratio)
    assert compared >= 12   # the function exercises whose reference is loaded here
