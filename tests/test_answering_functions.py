"""No function of the course, and not the library's ``generate()``, answers an exercise unnoticed
(issue 18, item 1).

The references in ``course_utils.reference`` are not the only code that computes an answer: a
lesson's own helpers do (lesson 6's ``reference_beam_step``, lesson 7's ``distinct_n_reference``,
the capstone's rebuilt loop), and so does the library (``model.generate`` is the capstone's answer,
``TopPLogitsWarper`` lesson 5's). Each exercise declares them (``answered_by``); this file checks
that the declaration is complete by brute force: every public function of every module of the
course, aliased as every function exercise's answer, is either wrong or caught. Before the
declarations, six helpers earned full marks this way (lesson 5 q4, lesson 6 q5 twice, lesson 7 q3,
q4, q6), and a ``my_generate`` that called ``model.generate`` earned the capstone's.

A candidate runs on the public tests first, and on the hidden ones only when it passes those. The
candidates run in a child process that this one kills when one of them takes longer than
``contained_audit.CANDIDATE_S`` or crashes (the course's helpers answer in milliseconds; the slow
ones are pure-Python loops over the vocabulary that answer nothing): nothing raises into them.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from course_utils.checking import INCORRECT
from course_utils.checking.borrowed_static import reference_uses
from course_utils.checking.registry import get_problem

from lesson_check_helpers import bundled  # noqa: F401 (autouse fixture: the bundled model)

FUNCTION_EXERCISES = [f"lesson{n}.q{q}" for n, q in [
    (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (2, 2), (2, 3), (3, 3), (3, 4), (4, 1), (4, 2), (4, 4),
    (5, 1), (5, 2), (5, 3), (5, 4), (5, 5), (6, 1), (6, 2), (6, 5), (6, 6), (6, 7), (6, 9),
    (7, 1), (7, 2), (7, 3), (7, 4), (7, 5), (7, 6)]]


def course_functions() -> dict:
    """``{dotted path: function}`` for every public function defined in a module of the course."""
    found = {}
    for package in ("course_utils", "course_utils.lessons", "course_utils.checking", "course_utils.reference"):
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + "."):
            module = importlib.import_module(info.name)
            found.update({f"{module.__name__}.{name}": value for name, value in vars(module).items()
                          if inspect.isfunction(value) and value.__module__ == module.__name__
                          and not name.startswith("_") and name != "main"})
    return found


def earns_points_unnoticed(problem, function) -> bool:
    """Whether ``function`` as ``problem``'s answer passes every test, hidden ones included, with
    no reference noted (run in the audit's child process: ``contained_audit``)."""
    return all(_passes(problem, function, grading) for grading in (False, True))


def _passes(problem, function, grading: bool) -> bool:
    try:
        payload = problem.collect({problem.var: function}, grading=grading)
    except (Exception, SystemExit):  # noqa: BLE001 - a candidate that cannot answer
        return False
    probes = payload.get("probes") or []
    if "reference" in payload or not probes or any("answer" not in probe for probe in probes):
        return False
    verdict = problem.judge_recorded(payload) if grading else problem.judge_safely(payload)
    return verdict.score >= verdict.max_score - 1e-9


def test_every_exercise_is_listed():
    """The list above is every function exercise of the course (a new one is audited too)."""
    listed = set()
    for n in range(1, 8):
        for q in range(1, 12):
            try:
                problem = get_problem(f"lesson{n}.q{q}")
            except KeyError:
                continue
            if hasattr(problem, "public_probes") and problem.var:
                listed.add(problem.id)
    assert listed == set(FUNCTION_EXERCISES)


@pytest.fixture(scope="module")
def audit() -> dict:
    """Every course function as every function exercise's answer, in a contained child process."""
    from contained_audit import run_contained

    paths = sorted(course_functions())
    return run_contained([(problem_id, path) for problem_id in FUNCTION_EXERCISES for path in paths])


@pytest.mark.parametrize("problem_id", FUNCTION_EXERCISES)
def test_no_course_function_answers_an_exercise_unnoticed(problem_id, audit):
    unnoticed = [path for (exercise, path), outcome in audit.items() if exercise == problem_id and outcome == "answers"]
    assert unnoticed == [], f"{problem_id} is answered by {unnoticed}: declare them in its `answered_by`"


def test_the_audit_tried_every_candidate(audit):
    """Each candidate has an outcome; the ones stopped from outside are few and named here."""
    assert len(audit) == len(FUNCTION_EXERCISES) * len(course_functions())
    stopped = sorted(f"{exercise} {path}: {outcome}" for (exercise, path), outcome in audit.items()
                     if outcome not in ("answers", "no"))
    print("\n".join(stopped))
    assert len(stopped) < len(audit) // 20, stopped


def test_every_declared_answer_resolves_here():
    """Each ``answered_by`` path names a function in this environment's libraries (the student
    platform's and the oldest supported run this too): a renamed one would go unwatched. Only
    ``_calc_banned_ngram_tokens`` is gone from transformers 5, and with it the TensorFlow module
    (``tf_logits_process``): its warpers are declared where it exists."""
    from course_utils.checking.borrowed import reference_functions

    tf_module = _transformers_tf_module()
    missing = []
    for problem_id in FUNCTION_EXERCISES:
        for path in getattr(get_problem(problem_id), "answered_by", ()):
            if ".tf_logits_process." in path and tf_module is None:
                continue
            if not reference_functions([path]) and not path.endswith("._calc_banned_ngram_tokens"):
                missing.append(path)
    assert missing == []


def _transformers_tf_module():
    """transformers' TensorFlow logits module, imported (the watch reads loaded modules only), or None."""
    import importlib

    try:
        return importlib.import_module("transformers.generation.tf_logits_process")
    except Exception:  # noqa: BLE001 - transformers 5 has no TensorFlow; TensorFlow may be absent
        return None


# Each warper of transformers that computes one of lesson 5's answers, by its name without the framework.
WARPER_ANSWERS = {"TemperatureLogitsWarper": "lesson5.q2", "TopKLogitsWarper": "lesson5.q3",
                  "TopPLogitsWarper": "lesson5.q4"}


def test_every_warper_of_transformers_that_answers_lesson5_is_declared_in_both_frameworks():
    """Listed from transformers' own modules, PyTorch's and TensorFlow's where installed, so that
    none is missed (issue 31: ``TFTopKLogitsWarper`` answered q3 unnoticed)."""
    import importlib

    modules = [importlib.import_module("transformers.generation.logits_process"), _transformers_tf_module()]
    undeclared, listed = [], 0
    for module in filter(None, modules):
        for name in dir(module):
            problem_id = WARPER_ANSWERS.get(name.removeprefix("TF"))
            if problem_id is None or not isinstance(getattr(module, name), type):
                continue
            listed += 1
            path = f"{module.__name__}.{name}.__call__"
            if path not in getattr(get_problem(problem_id), "answered_by", ()):
                undeclared.append((problem_id, path))
    assert undeclared == [] and listed >= len(WARPER_ANSWERS)


def my_generate_by_generate(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0,
                            min_p=None, repetition_penalty=1.0, no_repeat_ngram_size=0, do_sample=False, seed=0):
    import torch

    torch.manual_seed(seed)
    settings = dict(max_new_tokens=max_new_tokens, do_sample=do_sample, repetition_penalty=repetition_penalty,
                    no_repeat_ngram_size=no_repeat_ngram_size, pad_token_id=model.config.eos_token_id)
    if do_sample:
        settings.update(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    return model.generate(input_ids, **settings)


def test_a_capstone_that_calls_generate_earns_nothing():
    """The capstone asks for the loop that equals ``generate()``; calling it equals it too."""
    from course_utils.lessons import lesson7

    payload = lesson7.q5.collect({"my_generate": my_generate_by_generate}, grading=True)
    assert payload["reference"] == "transformers.generation.utils.GenerationMixin.generate"
    verdict = lesson7.q5.judge_recorded(payload)
    assert verdict.status == INCORRECT and verdict.score == 0 and "`generate()`" in verdict.message
    source = inspect.getsource(my_generate_by_generate).replace("my_generate_by_generate", "my_generate")
    found = reference_uses([cell(source)], [lesson7.q5])
    assert "`generate()`" in found["lesson7.q5"]


def cell(source):
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": {"solution": True, "grade_id": "a"}}}


@pytest.mark.parametrize("source, problem_id", [
    ("from course_utils.lessons.beam_steps import reference_beam_step\nbeam_step = reference_beam_step",
     "lesson6.q5"),
    ("import course_utils.lessons.lesson7_measure as m\ndistinct_n = m.distinct_n_reference", "lesson7.q6"),
    ("import course_utils.reference.pt\ntop_p_filter = course_utils.reference.pt.top_p_filter", "lesson5.q4"),
    ("from course_utils.reference import for_framework\ntop_p_filter = for_framework('pt').top_p_filter",
     "lesson5.q4"),
    ("from transformers.generation.logits_process import TopPLogitsWarper as W\n"
     "def top_p_filter(logits, p):\n    return W(p)(None, logits[None])[0]", "lesson5.q4"),
    ("import importlib\nm = importlib.import_module('course_utils.lessons.' + 'lesson7_generate')\n"
     "min_p_filter = getattr(m, 'min' + '_p')", "lesson7.q3"),
])
def test_the_grader_reads_a_helper_or_a_library_function_in_an_answer_cell(source, problem_id):
    found = reference_uses([cell(source)], [get_problem(problem_id)])
    assert problem_id in found, source


def test_an_honest_cell_is_not_read_as_one():
    """Names that merely resemble (an own ``top_p`` variable, ``import course_utils``) are not."""
    source = ("import course_utils\nimport torch\n\ndef top_p_filter(logits, p):\n    top_p = p\n"
              "    ordered, order = torch.sort(torch.as_tensor(logits))\n    return ordered if top_p == 1 else ordered\n")
    assert reference_uses([cell(source)], [get_problem("lesson5.q4")]) == {}



def test_two_watched_methods_of_one_module_keep_their_own_code():
    """``TopKLogitsWarper.__call__`` and ``TopPLogitsWarper.__call__`` live in one module: watched
    together, each still computes its own filter, and each call is noted by its own name."""
    import torch

    from course_utils.checking.borrowed import student_running, watching
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    expected = TopKLogitsWarper(1)(None, scores.clone()), TopPLogitsWarper(0.5)(None, scores.clone())
    prefix = "transformers.generation.logits_process."
    with watching([prefix + "TopKLogitsWarper.__call__", prefix + "TopPLogitsWarper.__call__"]) as calls:
        with student_running():
            got = TopKLogitsWarper(1)(None, scores.clone()), TopPLogitsWarper(0.5)(None, scores.clone())
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert calls == [prefix + "TopKLogitsWarper.__call__", prefix + "TopPLogitsWarper.__call__"]
