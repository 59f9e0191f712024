"""Whole batches through ``grader autograde``, real kernels included: the shipped samples and the
ways students break things (lying answers, patched checkers, tampered test cells, hangs, memory
bombs, crashes, bad files). Everything is graded in one batch, so the kernels start once."""
from __future__ import annotations

import csv
import os
import shutil
import socket
import tempfile

import pytest

from grader.course_release import release
from grader.pipeline import autograde
from grader.sandbox import contained as sandbox
from grader.course_release.samples import SAMPLE_LESSONS, SAMPLES_DIR, answered, demo_submissions, insert_after, replace_cell
from grader.pipeline.results import CSV_FIELDS

pytestmark = pytest.mark.slow

# The grader's state (result-signing key, bytecode cache) for tests: kept out of the home folder,
# shared by the test modules so the workers' bytecode is compiled once.
os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))

OPTIONS = {"cell_timeout": 60, "notebook_timeout": 400, "memory_mb": 3000, "max_cell_output_bytes": 2**20}
Q1, Q2, Q3 = "lesson1_q1_answer", "lesson1_q2_answer", "lesson1_q3_answer"
ESCAPEE = "course-grader-test-escapee"   # marks the processes that attacks try to leave behind


def adversarial(lesson1, port: int) -> dict[str, str]:
    """``{student: notebook text}``: each one an attack, with two exercises answered honestly."""
    honest = answered(lesson1, "lesson1", which=(Q1, Q2))
    cases = {
        # grade() replaced: the test cell records nothing, so nothing is earned.
        "forged_grade": insert_after(honest, Q1, "q1 = type('Fake', (), {'grade': lambda self: print('Correct')})()\n"
                                                 "q2.grade = lambda *a, **k: print('Correct')"),
        # The hidden probes dropped from the record (the kernel has none of its own; the test cell
        # lends them, and this refuses the loan): the trusted judge refuses the record.
        "no_hidden_probes": insert_after(answered(lesson1, "lesson1", which=(Q3,)), Q3,
                                         "import contextlib\nfrom course_utils.checking import hidden_tests\n"
                                         "hidden_tests.lent = lambda problem, tests: contextlib.nullcontext()"),
        # The test cell deleted, the answer right: the test comes back and counts.
        "deleted_test": replace_cell(honest, "lesson1_q1", None),
        # A cell that ignores Ctrl-C and never ends: the watchdog stops it; earlier points stay.
        "infinite_loop": answered(lesson1, "lesson1", which=(Q1, Q2), replace={
            Q3: "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"}),
        "memory_bomb": answered(lesson1, "lesson1", which=(Q1, Q2), replace={
            Q3: "hog = []\nwhile True:\n    hog.append(b'x' * 2**27)"}),
        # 20 MB of printing: cut at the output cap while it streams; the grading goes on.
        "output_flood": answered(lesson1, "lesson1", which=(Q1, Q2), replace={
            Q3: "for _ in range(20_000):\n    print('x' * 1000)"}),
        # A detached (setsid) child holding 4 GiB: counted as the kernel's, and killed with it.
        "escaped_memory": answered(lesson1, "lesson1", which=(Q1, Q2), replace={
            Q3: "import subprocess, sys, time\n"
                "subprocess.Popen(['setsid', sys.executable, '-c', "
                "'x = b\"x\" * (4 * 2**30); import time; time.sleep(600)  # " + ESCAPEE + "'])\n"
                "time.sleep(120)"}),
        # Hundreds of processes: stopped at the process cap, none left behind.
        "process_flood": answered(lesson1, "lesson1", which=(Q1, Q2), replace={
            Q3: "import subprocess\nfor _ in range(1000):\n"
                "    subprocess.Popen(['sh', '-c', 'sleep 600 # " + ESCAPEE + "'])"}),
        "kernel_crash": answered(lesson1, "lesson1", which=(Q1, Q2), replace={
            Q3: "import ctypes\nctypes.string_at(0)   # a segmentation fault"}),
        # Earns q1 only if the kernel cannot reach a server listening on this machine.
        "network": answered(lesson1, "lesson1", replace={Q1: (
            "import socket\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
            "    vocab_size = -1   # reached the network\n"
            "except OSError:\n    vocab_size = len(tokenizer)")}, which=(Q1,)),
    }
    return {name: release.dumps(nb) for name, nb in cases.items()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    submissions, out = root / "submissions", root / "out"
    shutil.copytree(SAMPLES_DIR, submissions)
    lesson1 = release.generate(["lesson1"])["lesson1"]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        for student, text in adversarial(lesson1, listener.getsockname()[1]).items():
            (submissions / student).mkdir()
            (submissions / student / "lesson1.ipynb").write_text(text)
        for student, data in {"empty": b"", "not_a_notebook": b"[1, 2]", "garbage": b"\x00\xff" * 100}.items():
            (submissions / student).mkdir()
            (submissions / student / "lesson1.ipynb").write_bytes(data)
        report = autograde.autograde(submissions, out, workers=2, options=OPTIONS, progress=False)
    finally:
        listener.close()
    rows = {(r["student_id"], r["notebook"]): r for r in report.table()}
    return rows, out, submissions, report


def test_samples_are_in_sync_with_the_sources():
    releases = release.generate(list(SAMPLE_LESSONS))
    assert "lesson7" in releases
    for name, data in demo_submissions(releases).items():
        assert (SAMPLES_DIR / name).read_bytes() == data, f"{name} is stale: run python -m grader.samples"


def test_samples_get_the_grades_they_earned(batch):
    rows, *_ = batch
    for lesson in SAMPLE_LESSONS:                                      # every lesson, complete
        assert rows[("ada", lesson)]["score"] == rows[("ada", lesson)]["max_score"] > 0, lesson
    assert rows[("ben", "lesson1")]["score"] == 2                      # the two parts done
    assert rows[("cy", "lesson1")]["score"] == 0                       # blank
    assert rows[("cy", "lesson3")]["status"] == rows[("cy", "lesson7")]["status"] == "missing"
    assert rows[("dee", "lesson1")]["status"] == "invalid" and "JSON" in rows[("dee", "lesson1")]["reason"]
    assert rows[("eve", "lesson1")]["score"] == 0                      # lying object, patched checker, edited test
    assert "restored" in rows[("eve", "lesson1")]["reason"]
    assert rows[("fay", "lesson1")]["status"] == "wrong_lesson"


def test_attacks_earn_nothing_they_did_not_do(batch):
    rows, *_ = batch
    row = lambda student: rows[(student, "lesson1")]  # noqa: E731
    assert row("forged_grade")["score"] == 0 and row("forged_grade")["status"] == "graded"
    assert row("no_hidden_probes")["score"] == 0 and "hidden ones included" in row("no_hidden_probes")["reason"]
    assert row("deleted_test")["score"] == 2 and "put back" in row("deleted_test")["reason"]
    for student, status in [("infinite_loop", "timeout"), ("memory_bomb", "oom"), ("kernel_crash", "crash"),
                            ("escaped_memory", "oom"), ("process_flood", "crash")]:
        assert row(student)["status"] == status, row(student)
        assert row(student)["score"] == 2, row(student)                # q1 and q2 ran before it
    assert row("output_flood")["status"] == "graded" and row("output_flood")["score"] == 2
    for student in ["empty", "not_a_notebook", "garbage"]:
        assert row(student)["status"] == "invalid" and row(student)["reason"]


@pytest.mark.skipif(sandbox.bwrap.probe()[0] is None, reason="bubblewrap cannot run here")
def test_kernels_have_no_network(batch):
    rows, *_ = batch
    assert rows[("network", "lesson1")]["score"] == 1


def test_no_process_outlives_its_kernel(batch):
    import subprocess

    left = subprocess.run(["pgrep", "-f", ESCAPEE], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes left behind by submissions: {left}"


def test_every_submission_has_one_row_and_feedback(batch):
    rows, out, submissions, _ = batch
    with open(out / "grades.csv", newline="") as f:
        read = list(csv.DictReader(f))
    assert len(read) == len(rows) == len({(r["student_id"], r["notebook"]) for r in read})
    assert set(CSV_FIELDS) <= set(read[0])
    for student_dir in submissions.iterdir():
        assert (out / "feedback" / student_dir.name / "lesson1.html").is_file()


def test_flooded_output_is_cut_in_the_feedback(batch):
    _, out, *_ = batch
    feedback = out / "feedback" / "output_flood" / "lesson1.html"
    assert feedback.stat().st_size < 4 * 2**20
    assert "output of this cell cut" in feedback.read_text()


def test_feedback_shows_verdicts_not_payloads_or_hidden_inputs(batch):
    from course_utils.lessons import lesson1 as checks

    _, out, *_ = batch
    text = (out / "feedback" / "ben" / "lesson1.html").read_text()
    rows, *_ = batch
    assert f"Score: 2 / {rows[('ben', 'lesson1')]['max_score']:g}" in text and "Not attempted" in text
    assert "vnd.course.answer" not in text
    for spec in checks.q3.hidden_probes:
        assert str(spec) not in text


def test_a_rerun_regrades_nothing_and_changes_nothing(batch):
    rows, out, submissions, _ = batch
    before = (out / "grades.csv").read_bytes()
    again = autograde.autograde(submissions, out, workers=2, options=OPTIONS, progress=False)
    assert again.graded_now == 0
    assert (out / "grades.csv").read_bytes() == before


def test_an_interrupted_run_resumes_where_it_stopped(batch):
    # A run killed after some results were saved, before grades.csv: only the rest is graded.
    rows, out, submissions, _ = batch
    before = (out / "grades.csv").read_bytes()
    (out / "grades.csv").unlink()
    (out / "results" / "ben" / "lesson1.json").unlink()
    again = autograde.autograde(submissions, out, workers=2, options=OPTIONS, progress=False)
    assert again.graded_now == 1
    assert (out / "grades.csv").read_bytes() == before
