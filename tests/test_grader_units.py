"""The grader's parts that need no kernel: reading files, rebuilding notebooks, finding
submissions, writing grades. (Whole batches, with real kernels, are in test_grader_batch.py.)"""
from __future__ import annotations

import json

import nbformat
import pytest

from grader.reports import grades_csv
from grader.course_release import release
from grader.pipeline import assemble, autograde
from grader.pipeline.assemble import InvalidSubmission, grade_id_of
from grader.course_release.samples import answered, insert_after, replace_cell
from grader.options import GradingOptions
from grader.pipeline.results import CSV_FIELDS, GradeRow, max_score


@pytest.fixture(scope="module")
def lesson1():
    return release.generate(["lesson1"])["lesson1"]


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not text"),
    (b'{"cells": [', "not valid notebook JSON"),
    (b"[1, 2, 3]", "not a notebook"),
    (b'{"nbformat": 4}', "not a notebook"),
    (b'{"cells": [{"cell_type": "code", "source": 5}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "could not be read"),
])
def test_unreadable_files_are_rejected_with_a_reason(data, reason):
    with pytest.raises(InvalidSubmission, match=reason):
        assemble.read_submission(data)


def test_a_released_notebook_reads_back(lesson1):
    nb = assemble.read_submission(release.dumps(lesson1).encode())
    assert [grade_id_of(c) for c in nb.cells] == [grade_id_of(c) for c in lesson1.cells]


def test_edited_locked_cells_are_restored_and_answers_kept(lesson1):
    submitted = answered(lesson1, "lesson1", which=("lesson1_q1_answer",))
    submitted = replace_cell(submitted, "lesson1_q1", "print('Correct')")
    submitted = replace_cell(submitted, "setup", "import os")
    built = assemble.assemble(submitted, lesson1, "lesson1")
    cells = {grade_id_of(c): c for c in built.nb.cells if grade_id_of(c)}
    original = {grade_id_of(c): c for c in lesson1.cells if grade_id_of(c)}
    assert cells["lesson1_q1"].source == original["lesson1_q1"].source == "q1.grade()"
    assert cells["setup"].source == original["setup"].source
    assert "len(tokenizer)" in cells["lesson1_q1_answer"].source
    assert any("lesson1_q1" in note for note in built.notes)
    tests = [c for c in lesson1.cells if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]
    assert [t.problem_id for t in built.tests] == [assemble.problem_id("lesson1", c) for c in tests]
    assert [t.problem_id for t in built.tests][:4] == ["lesson1.q1", "lesson1.q2", "lesson1.q3", "lesson1.q4"]


def test_deleted_test_cells_come_back_after_their_answer(lesson1):
    submitted = replace_cell(replace_cell(lesson1, "lesson1_q2", None), "setup", None)
    built = assemble.assemble(submitted, lesson1, "lesson1")
    ids = [grade_id_of(c) for c in built.nb.cells]
    assert ids.index("setup") < ids.index("lesson1_q1_answer")
    assert ids.index("lesson1_q2_answer") + 1 == ids.index("lesson1_q2")
    test = next(t for t in built.tests if t.grade_id == "lesson1_q2")
    assert built.nb.cells[test.index].source == "q2.grade()"


def test_copies_of_graded_cells_grade_nothing(lesson1):
    # A second "test cell" (with the metadata copied) placed before the answer must not count.
    nb = lesson1
    copy = next(c for c in nb.cells if grade_id_of(c) == "lesson1_q1")
    nb = insert_after(nb, "lesson1_q1", "q1.grade()")
    nb.cells[[grade_id_of(c) for c in nb.cells].index("lesson1_q1") + 1].metadata = json.loads(
        json.dumps(copy.metadata))
    built = assemble.assemble(nb, lesson1, "lesson1")
    assert [t.grade_id for t in built.tests].count("lesson1_q1") == 1
    assert sum(1 for c in built.nb.cells if grade_id_of(c) == "lesson1_q1") == 1


def test_students_own_cells_are_kept_without_grading_metadata(lesson1):
    nb = insert_after(lesson1, "lesson1_q1_answer", "helper = 42")
    nb.cells[[grade_id_of(c) for c in nb.cells].index("lesson1_q1_answer") + 1].metadata["nbgrader"] = {
        "grade": True, "grade_id": "made_up", "points": 100}
    built = assemble.assemble(nb, lesson1, "lesson1")
    mine = next(c for c in built.nb.cells if c.source == "helper = 42")
    assert "nbgrader" not in mine.metadata
    from grader.pipeline.results import max_score

    assert sum(t.points for t in built.tests) == max_score(lesson1)


def test_outputs_in_the_submission_are_dropped(lesson1):
    nb = answered(lesson1, "lesson1")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("display_data", data={
                "application/vnd.course.answer+json": {"problem": "lesson1.q1", "payload": {"value": 50257}}})]
    built = assemble.assemble(nb, lesson1, "lesson1")
    assert all(not c.get("outputs") for c in built.nb.cells if c.cell_type == "code")


def test_which_lesson_a_notebook_holds(lesson1):
    lesson3 = release.generate(["lesson3"])["lesson3"]
    assert assemble.lesson_of(lesson1, ["lesson1", "lesson3"]) == "lesson1"
    assert assemble.lesson_of(lesson3, ["lesson1", "lesson3"]) == "lesson3"
    assert assemble.lesson_of(nbformat.v4.new_notebook(), ["lesson1"]) is None


def test_both_submission_layouts_are_found(tmp_path):
    flat, nbgrader_style = tmp_path / "flat", tmp_path / "course"
    for path in [flat / "s1" / "lesson1.ipynb", flat / "s2" / "lesson3.ipynb",
                 flat / "s2" / ".ipynb_checkpoints" / "lesson3-checkpoint.ipynb",
                 nbgrader_style / "submitted" / "s3" / "lesson1" / "lesson1.ipynb"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    found = autograde.find_submissions(flat)
    assert [(s.student, s.notebook) for s in found] == [("s1", "lesson1"), ("s2", "lesson3")]
    assert [(s.student, s.notebook) for s in autograde.find_submissions(nbgrader_style)] == [("s3", "lesson1")]
    full = autograde.with_missing(found, ["lesson1", "lesson3"])
    assert [(s.student, s.notebook, s.path is None) for s in full] == [
        ("s1", "lesson1", False), ("s1", "lesson3", True), ("s2", "lesson1", True), ("s2", "lesson3", False)]


def test_grades_csv_is_replaced_whole(tmp_path):
    path = tmp_path / "grades.csv"
    rows = [{"student_id": "a,b", "notebook": "lesson1", "score": 1.0, "max_score": 4.0,
             "status": "graded", "reason": 'quote " and, comma', "seconds": 3}]
    grades_csv.write(path, [GradeRow.from_dict(r) for r in rows])
    grades_csv.write(path, [GradeRow.from_dict(r) for r in rows])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grades.csv"]  # no temporary files left
    import csv

    with open(path, newline="") as f:
        read = list(csv.DictReader(f))
    assert read[0]["student_id"] == "a,b" and read[0]["reason"] == 'quote " and, comma'
    assert list(read[0]) == CSV_FIELDS


def test_forged_payloads_without_hidden_probes_earn_nothing():
    from course_utils.checking import judge_answer
    from course_utils.lessons import lesson1 as checks

    probes = [{"spec": s, "hidden": False, "answer": None} for s in checks.q3.public_probes]
    verdict = judge_answer("lesson1.q3", {"probes": probes})
    assert verdict.status == "Incorrect" and "hidden" in verdict.message


# -- what a hostile submission controls: ids, files, outputs, saved results (issue 11) -----------
def test_student_ids_that_could_attack_the_instructor_are_refused():
    from grader.pipeline import student_ids

    names = ["ada", "José", "jo smith", "jo_smith", "\ufb01ona", "fiona", "=HYPERLINK(1)", "+1", "-x", "@x",
             "a\nb", "\x1b[2Jx", "rtl\u202eevil", " pad", "x" * 200, "O'Brien <b>"]
    refused = student_ids.check_all(names)
    assert set(refused) == set(names) - {"ada", "José", "O'Brien <b>"}
    assert "cannot be told apart" in refused["jo smith"] and "'jo_smith'" in refused["jo smith"]
    assert "spreadsheets" in refused["=HYPERLINK(1)"] and "control" in refused["a\nb"]
    assert student_ids.display("a\nb\x1b") == "a\\x0ab\\x1b"
    assert student_ids.path_name("O'Brien <b>") == "O_Brien__b_" and student_ids.path_name(".x") == "_.x"


def test_text_is_sanitized_for_spreadsheets_and_terminals():
    from grader.reports import sanitize

    assert sanitize.csv_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert [sanitize.csv_cell(v) for v in ["+1", "-1", "@a", "\tx", "ok", 3.5]] == ["'+1", "'-1", "'@a", "\\x09x", "ok", 3.5]
    assert sanitize.escape_controls("red \x1b[31mtext\x1b[0m\r\n") == "red text\\x0d\\x0a"
    assert sanitize.escape_controls("a\nb", keep="\n") == "a\nb"
    rows = [{"student_id": "x\x1b[2J", "notebook": "lesson1", "score": 0, "max_score": 4, "status": "invalid",
             "reason": "bad\x07"}]
    summary = grades_csv.summary_table([GradeRow.from_dict(r) for r in rows])
    assert not any(ord(c) < 32 and c != "\n" for c in summary)


def test_feedback_pages_show_student_markup_as_text():
    import base64

    from grader.reports import feedback_html

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    cells = [nbformat.v4.new_markdown_cell("<script>alert(1)</script><form><input></form>"),
             nbformat.v4.new_code_cell("x", outputs=[
                 nbformat.v4.new_output("display_data", data={"text/html": "<img src=x onerror=alert(2)>",
                                                              "text/plain": "<b>plain</b>"}),
                 nbformat.v4.new_output("display_data", data={"image/png": png}),
                 nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(b"<svg>").decode()}),
                 nbformat.v4.new_output("stream", name="stdout", text="\x1b[31m<script>\x1b[0m"),
                 nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["<iframe src=//x>"])])]
    row = {"student_id": "<b>me</b>", "notebook": "lesson1", "score": 1, "max_score": 4, "status": "graded",
           "reason": "<a href=x>"}
    page = feedback_html.page(row, [], cells)
    assert "default-src 'none'" in page and page.count("<img") == 1 and f"data:image/png;base64,{png}" in page
    for tag in ["<script", "<form", "<input", "<iframe", "<b>me", "<b>plain", "<a ", "onerror=alert(2)>", "\x1b"]:
        assert tag not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;plain&lt;/b&gt;" in page


def test_results_are_signed_and_checked(tmp_path, monkeypatch):
    import os
    import stat

    from grader.pipeline import signing

    monkeypatch.setenv("COURSE_GRADER_STATE", str(tmp_path / "state"))
    key = signing.key()
    assert signing.key() == key and len(key) == 32
    assert stat.S_IMODE(os.stat(tmp_path / "state" / signing.KEY_FILE).st_mode) == 0o600
    fields = {"student": "ada", "notebook": "lesson1", "key": "k", "result": {"row": {"score": 4.0}}}
    signature = signing.sign(key, fields)
    assert signing.verify(key, json.loads(json.dumps(fields)), signature)
    assert not signing.verify(key, {**fields, "student": "eve"}, signature)
    assert not signing.verify(os.urandom(32), fields, signature) and not signing.verify(key, fields, None)
    os.chmod(tmp_path / "state" / signing.KEY_FILE, 0o644)
    with pytest.raises(RuntimeError, match="mode 600"):
        signing.key()


def test_entries_that_are_not_plain_notebooks_become_rows(tmp_path):
    import os

    from grader.pipeline import submissions

    root = tmp_path / "subs"
    for name in ["ok", "fifo", "dangling", "dir_nb", "linked_file"]:
        (root / name).mkdir(parents=True)
    (root / "ok" / "lesson1.ipynb").write_text("{}")
    os.mkfifo(root / "fifo" / "lesson1.ipynb")
    os.symlink("/nonexistent", root / "dangling" / "lesson1.ipynb")
    (root / "dir_nb" / "lesson1.ipynb").mkdir()
    os.symlink(root / "ok" / "lesson1.ipynb", root / "linked_file" / "lesson1.ipynb")
    os.symlink(root / "ok", root / "linked_dir")
    os.mkfifo(root / "pipe")
    (root / "index.csv").write_text("not a student")
    found = {(s.student, s.notebook): s for s in submissions.find_submissions(root)}
    assert found[("ok", "lesson1")].problem is None
    assert "FIFO" in found[("fifo", "lesson1")].problem and "symbolic link" in found[("dangling", "lesson1")].problem
    assert "folder" in found[("dir_nb", "lesson1")].problem and "symbolic" in found[("linked_file", "lesson1")].problem
    assert "symbolic link" in found[("linked_dir", "*")].problem and "FIFO" in found[("pipe", "*")].problem
    assert not any(s == "index.csv" for s, _ in found)
    with pytest.raises(InvalidSubmission, match="regular file"):
        submissions.read_bytes(root / "fifo" / "lesson1.ipynb")   # returns at once: never blocks on a FIFO
    with pytest.raises(InvalidSubmission):
        submissions.read_bytes(root / "linked_file" / "lesson1.ipynb")


def test_huge_or_deep_notebooks_are_refused_before_parsing():
    cells = json.dumps({"cells": [{"cell_type": "raw", "source": "", "metadata": {}}] * 5000, "metadata": {},
                        "nbformat": 4, "nbformat_minor": 5}).encode()
    with pytest.raises(InvalidSubmission, match="1000 cells"):
        assemble.read_submission(cells)
    with pytest.raises(InvalidSubmission, match="nested"):
        assemble.read_submission(b"[" * 100_000 + b"]" * 100_000)


def test_outputs_are_counted_before_they_are_kept():
    from grader.sandbox.capped_client import CappedClient

    cell = nbformat.v4.new_code_cell("x")
    client = CappedClient(nbformat.v4.new_notebook(cells=[cell]))
    client.max_cell_output_bytes = 10_000
    client.reset_execution_trackers()
    client.clear_before_next_output = False

    def msg(kind, content):
        return {"msg_type": kind, "content": content, "parent_header": {"msg_id": "m"}, "header": {"msg_type": kind}}

    for _ in range(50):
        client.process_message(msg("stream", {"name": "stdout", "text": "x" * 1000}), cell, 0)
        client.process_message(msg("update_display_data", {"data": {"text/plain": "y" * 10**6}, "metadata": {},
                                                            "transient": {"display_id": "d"}}), cell, 0)
        client.process_message(msg("comm_msg", {"comm_id": "c", "data": {"state": {"v": "z" * 10**6}}}), cell, 0)
    kept = sum(len(o.get("text", "")) for o in cell.outputs)
    assert kept < 11_000 and "cut at 10,000 bytes" in cell.outputs[-1]["text"]
    assert client.widget_state == {} and len(cell.outputs) < 15


def test_grading_refuses_to_start_without_a_sandbox(tmp_path, monkeypatch, capsys):
    from grader import cli
    from grader.sandbox import bwrap, contained as sandbox

    monkeypatch.setattr(bwrap, "probe", lambda: (None, "bubblewrap is not installed"))
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    with pytest.raises(sandbox.SandboxUnavailable, match="--unsafe-no-sandbox"):
        autograde.autograde(tmp_path / "subs", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert cli.main(["autograde", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    printed = capsys.readouterr()
    assert "UNAVAILABLE" in printed.out and "bubblewrap is not installed" in printed.err
    lines = sandbox.containment(GradingOptions(sandbox="none"))
    assert lines["sandbox"].startswith("NONE") and lines["network"] == "NOT blocked"


def _pool_grading(monkeypatch, grade, margin_s: float):
    """Two jobs, ``slow`` then ``quick``, through a one-worker local pool forked from this process
    (so that it sees ``grade`` in place of ``_grade``), each job's budget 0.5 s: their rows."""
    import multiprocessing

    from grader.pipeline import grade_one, local_pool, worker
    from grader.pipeline.job import Job

    monkeypatch.setattr(worker, "prepare_judge", lambda *args: None)
    monkeypatch.setattr(grade_one, "job_budget", lambda options: 0.5)
    monkeypatch.setattr(grade_one, "_grade", grade)
    lesson1 = nbformat.writes(release.generate(["lesson1"])["lesson1"])
    jobs = [{"student": name, "notebook": "lesson1", "release": lesson1, "options": {"model": "course"},
             "lesson_ids": ["lesson1"]} for name in ("slow", "quick")]
    pool = local_pool.LocalPool(1, multiprocessing.get_context("fork"), None, (), margin_s=margin_s)
    try:
        futures = [pool.submit(grade_one.grade_submission, job) for job in jobs]
        return {job["student"]: local_pool.result_of(future, Job.from_dict(job))["row"]
                for job, future in zip(jobs, futures)}, max_score(nbformat.reads(lesson1, as_version=4))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _slow_or_quick(busy):
    from grader.pipeline import grade_one
    from grader.pipeline.results import Status

    def grade(job, limits):
        if job.student == "slow":
            busy()
        return grade_one._row(job, Status.GRADED, "", 1.0), [], {}
    return grade


def test_a_job_past_its_deadline_is_stopped_from_outside_and_its_neighbour_is_graded(monkeypatch):
    """A job that never reaches a check (a parser that never ends) is killed by the pool, from
    this process: its row is ``timeout``; the next job, on the worker started in its place, is graded."""
    import time

    rows, points = _pool_grading(monkeypatch, _slow_or_quick(lambda: time.sleep(60)), margin_s=0.5)
    assert rows["slow"]["status"] == "timeout" and rows["slow"]["max_score"] == points
    assert rows["quick"]["status"] == "graded" and rows["quick"]["score"] == 1.0


def test_a_job_that_outlives_its_budget_under_any_executor_ends_its_worker(monkeypatch):
    """Where no pool stops it (Dask), the worker's own watch ends its process past the budget and
    the grace, with an exit code that the local pool reads as ``timeout``; nothing is raised into
    the job (the judge's ``except Exception`` never sees a limit)."""
    from grader.pipeline import job_limits

    def judge_forever():
        while True:
            try:
                sum(range(10_000))
            except Exception:  # noqa: BLE001 - "the checker could not judge"
                pass

    monkeypatch.setattr(job_limits, "GRACE_S", 0.3)
    rows, _ = _pool_grading(monkeypatch, _slow_or_quick(judge_forever), margin_s=120)
    assert rows["slow"]["status"] == "timeout" and rows["quick"]["status"] == "graded"


def test_a_dask_shutdown_that_times_out_after_grading_is_a_warning_not_a_failure(capsys):
    """On a loaded machine LocalCluster.close() can time out after grades.csv is written; the CLI
    used to exit 2 with an empty "grading could not run:" then."""
    from grader.pipeline import cluster

    closed = []

    class TimesOut:
        def close(self):
            raise TimeoutError()

    class Closes:
        def close(self):
            closed.append(True)

    cluster.close_quietly(TimesOut(), Closes())
    assert closed == [True] and "did not close cleanly" in capsys.readouterr().err
