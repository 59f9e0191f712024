"""Evidence from what ran around ``collect`` (issue 31, item 2), without a grading batch.

``graded_cell.run`` is what the grader's test cells call: it finds the exercise by its id, and
records, with the answer, a trace or profile hook at entry or exit, a ``sys.settrace`` /
``sys.setprofile`` call while collecting (counted by the kernel's audit hook, which a subprocess
installs here: an audit hook cannot be removed, and refuses a second one), and an answering
function whose code is not its module's. ``grader.readings.evidence`` turns that into 0 points
with the reason. The batches (tests/test_grader_attacks.py, tests/test_honest_corpus.py) show the
same through real kernels.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from course_utils.checking import graded_cell
from course_utils.checking.records import ANSWER_MIME
from grader.readings import evidence


def recorded(capsys) -> dict:
    """The answer record ``run`` printed (outside a kernel: ``{ANSWER_MIME: record}`` as JSON)."""
    line = next(line for line in capsys.readouterr().out.splitlines() if ANSWER_MIME in line)
    return json.loads(line)[ANSWER_MIME]


def run_lesson1_q1(capsys, monkeypatch, answer) -> dict:
    import __main__

    monkeypatch.setattr(__main__, "vocab_size", answer, raising=False)
    monkeypatch.setattr(__main__, "q1", (25.0, 75.0), raising=False)   # a student's scratch q1
    graded_cell.run("lesson1.q1", nonce="n0")
    return recorded(capsys)


def test_the_test_cell_finds_its_exercise_by_id_not_the_notebooks_q1(capsys, monkeypatch):
    record = run_lesson1_q1(capsys, monkeypatch, 50257)
    assert record["problem"] == "lesson1.q1" and record["nonce"] == "n0"
    assert record["payload"] != {} and "error" not in record["payload"], record
    assert record["evidence"]["hooks"] == [] and evidence.hooks_of(record["evidence"]) == []


def test_an_answer_collected_under_a_profile_hook_earns_nothing_with_the_reason(capsys, monkeypatch):
    from sys import setprofile   # the name the red team used: the hook is found whatever it was set by

    setprofile(lambda frame, event, arg: None)
    try:
        record = run_lesson1_q1(capsys, monkeypatch, 50257)
    finally:
        setprofile(None)
    entries = [{"grade_id": "lesson1_q1", "score": 1.0, "status": "Correct", "message": "",
                "evidence": record["evidence"]}]
    notes = evidence.mark_hooked(entries)
    assert entries[0]["score"] == 0 and "profile function" in entries[0]["message"]
    assert notes and notes[0].startswith("lesson1_q1 earns nothing") and "evidence" not in entries[0]


def test_a_reference_whose_code_was_replaced_is_evidence(capsys, monkeypatch):
    """Lesson 5 q4 is answered by ``top_p_filter``: with its ``__code__`` swapped for the notebook's,
    the watch on it would see nothing; the test cell says so at entry and exit."""
    from course_utils.checking.borrowed import reference_functions, reference_names
    from course_utils.checking.registry import get_problem
    from course_utils.reference import pt as ref_pt

    functions = reference_functions(reference_names(get_problem("lesson5.q4")))
    assert ref_pt.top_p_filter in functions and all(graded_cell.grader_code(f) for f in functions)
    original = ref_pt.top_p_filter.__code__
    ref_pt.top_p_filter.__code__ = (lambda logits, p: logits).__code__
    try:
        assert not graded_cell.grader_code(ref_pt.top_p_filter)
        graded_cell.run("lesson5.q4", nonce="n1")
        record = recorded(capsys)
    finally:
        ref_pt.top_p_filter.__code__ = original
    reasons = evidence.hooks_of(record["evidence"])
    assert any("top_p_filter" in reason and "replaced" in reason for reason in reasons), reasons
    assert graded_cell.grader_code(ref_pt.top_p_filter)   # put back: the grader's own again


def test_a_record_without_the_graders_evidence_earns_nothing_and_one_unaudited_is_noted():
    """Only ``graded_cell`` makes a record with evidence: one without (stripped on its way out, or
    made by other code inside the test cell) earns nothing; one whose kernel audit did not answer
    is noted for review."""
    entries = [{"grade_id": "lesson1_q1", "score": 1.0, "status": "Correct", "message": "", "evidence": None},
               {"grade_id": "lesson1_q2", "score": 1.0, "status": "Correct", "message": "",
                "evidence": {"hooks": [], "audit": False}},
               {"grade_id": "lesson1_q3", "score": 1.0, "status": "Correct", "message": "",
                "evidence": {"hooks": [], "audit": True}},
               {"grade_id": "lesson1_q4", "score": 0.0, "status": "Not attempted", "message": ""}]   # no record
    notes = evidence.mark_hooked(entries)
    assert [e["score"] for e in entries] == [0.0, 1.0, 1.0, 0.0]
    assert "not the grader's" in entries[0]["message"]
    assert len(notes) == 2 and notes[1].startswith("for review") and "lesson1_q2" in notes[1]


AUDITED = """
import sys
{hook}
install_audit_hook()
from course_utils.checking import graded_cell
before = graded_cell.audit_counts()
from sys import setprofile
setprofile(lambda *a: None); setprofile(None)   # set and cleared: gone by the exit of collect
after = graded_cell.audit_counts()
heard = []
sys.addaudithook(lambda event, args: heard.append(event))   # CPython drops it silently when refused
sys.audit("course.test")
second = "added" if heard else "refused"
import json
print(json.dumps({{"before": before, "after": after, "second": second,
                  "found": graded_cell._hooks_set_between(before, after)}}))
"""


def test_the_kernels_audit_hook_counts_hooks_set_and_cleared_and_refuses_a_second_hook():
    import inspect

    from grader.sandbox import kernel_limits

    program = AUDITED.format(hook=textwrap.dedent(inspect.getsource(kernel_limits.install_audit_hook)))
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] is not None and seen["after"]["sys.setprofile"] == seen["before"]["sys.setprofile"] + 2
    assert seen["found"] == ["`sys.setprofile` was called while the answer was collected"]
    assert seen["second"] == "refused"


def test_without_an_audit_hook_the_counts_are_absent():
    assert graded_cell.audit_counts() is None   # this test process installs none


def test_kernels_may_hold_at_most_max_open_files():
    """``RLIMIT_NOFILE``: a kernel cannot pin kernel memory in thousands of socket pairs."""
    from grader.sandbox import kernel_limits

    program = ("import resource, socket\nfrom grader.sandbox.kernel_limits import set_kernel_limits\n"
               "set_kernel_limits(2**40, 2**30, 0)\nsoft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
               "pairs = []\ntry:\n    while True:\n        pairs.append(socket.socketpair())\n"
               "except OSError:\n    pass\nprint(soft, hard, len(pairs))")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    if "seccomp" in out.stderr or "Operation not permitted" in out.stderr:
        pytest.skip("this machine forbids seccomp filters")
    soft, hard, pairs = map(int, out.stdout.split())
    assert hard == kernel_limits.MAX_OPEN_FILES and soft <= hard and pairs < kernel_limits.MAX_OPEN_FILES // 2
