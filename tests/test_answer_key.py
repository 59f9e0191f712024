"""The grading kernel's copy of the course (grader.sandbox.kernel_package): no hidden test, no answer key,
the collect half intact; hidden tests travel in the test cell; outputs that show them are withheld."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from course_utils.checking import hidden_tests, records
from grader.reports import hidden_outputs
from grader.sandbox import kernel_package

# Run with the stripped copy first on sys.path: what a grading kernel imports.
INSIDE_THE_KERNEL = textwrap.dedent('''
    import importlib, json, sys
    sys.path.insert(0, sys.argv[1])
    import course_utils
    assert course_utils.__file__.startswith(sys.argv[1]), course_utils.__file__
    from course_utils.checking import answer_key, hidden_tests
    from course_utils.checking.problem import Problem
    from course_utils.checking.registry import get_problem
    found = {"available": answer_key.AVAILABLE, "hidden": {}, "answer_key": {}, "members": 0}
    for k in range(1, 8):
        lesson = importlib.import_module(f"course_utils.lessons.lesson{k}")
        for value in vars(lesson).values():
            if not isinstance(value, Problem):
                continue
            for member in hidden_tests.members(value):
                found["members"] += 1
                if getattr(member, "hidden_probes", None):
                    found["hidden"][member.id] = member.hidden_probes
                if "expected" in [n for c in type(member).__mro__ if c.__module__.startswith("course_utils.lessons")
                                  for n in vars(c)]:
                    try:
                        member.expected() if member.expected.__code__.co_argcount == 1 else member.expected({})
                        found["answer_key"][member.id] = "computed"
                    except answer_key.AnswerKeyAbsent:
                        pass
    # The collect half still works: lesson 1 q3's public and lent hidden probes, on a correct answer.
    q3 = get_problem("lesson1.q3")
    namespace = {"round_trip": lambda text: text}
    with hidden_tests.lent(q3, sys.argv[2]):
        found["collected"] = q3.collect(namespace, grading=True)
    found["after"] = list(q3.hidden_probes)
    print(json.dumps(found))
''')


@pytest.fixture(scope="module")
def kernel_view(tmp_path_factory):
    from course_utils.checking.registry import get_problem

    copy = kernel_package.build(kernel_package.package_dir(), tmp_path_factory.mktemp("kernel-package"))
    lent = hidden_tests.as_argument(hidden_tests.of(get_problem("lesson1.q3")))
    done = subprocess.run([sys.executable, "-c", INSIDE_THE_KERNEL, str(copy.parent), lent],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), lent


def test_the_kernels_copy_holds_no_hidden_test(kernel_view):
    found, _ = kernel_view
    assert found["members"] >= 40 and found["hidden"] == {}


def test_the_kernels_copy_cannot_compute_an_expected_answer(kernel_view):
    found, _ = kernel_view
    assert found["available"] is False and found["answer_key"] == {}


def test_the_collect_half_runs_the_hidden_tests_it_is_lent_and_keeps_none(kernel_view):
    from course_utils.checking.registry import get_problem

    found, lent = kernel_view
    q3 = get_problem("lesson1.q3")          # the full package: the judge's view
    probes = found["collected"]["probes"]
    assert [p["spec"] for p in probes if p["hidden"]] == q3.hidden_probes == json.loads(lent)["lesson1.q3"]
    assert q3.recorded_gap(found["collected"]) is None
    assert found["after"] == []              # lent for the one collect, gone afterwards


def test_a_test_cell_carries_its_nonce_and_hidden_tests_and_is_shown_as_released():
    cell = {"source": "q3.grade()", "metadata": {}}
    from nbformat import from_dict

    cell = from_dict(cell)
    records.seal_test_cells([cell], ["lesson1.q3"], ['{"lesson1.q3": ["secret"]}'])
    # bound to the exercise by its id, not to the notebook's global q3
    assert cell.source.startswith("__import__('course_utils.checking.graded_cell', fromlist=['run']).run("
                                  "'lesson1.q3', nonce='") and "hidden='{\"lesson1.q3\": [\"secret\"]}'" in cell.source
    records.unseal_test_cells([cell])
    assert cell.source == "q3.grade()" and records.NONCE_KEY in cell.metadata


def test_an_output_that_shows_a_hidden_input_is_withheld():
    secrets = hidden_outputs.secret_strings([{"lesson1.q2": ["Tokenization is secret", {"prompt": "My lord"}, 7]}])
    assert secrets == {"Tokenization is secret", "My lord"}
    cells = [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": "['Tokenization is secret']"}]},
             {"cell_type": "code", "outputs": [{"output_type": "execute_result", "data": {"text/plain": "'My lord'"}}]},
             {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "My lord"}]},   # a test cell
             {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "nothing secret"}]}]
    assert hidden_outputs.withhold(cells, {2}, secrets) == 2
    assert cells[0]["outputs"][0]["text"] == cells[1]["outputs"][0]["text"] == hidden_outputs.WITHHELD
    assert cells[2]["outputs"][0]["text"] == "My lord" and cells[3]["outputs"][0]["text"] == "nothing secret"
