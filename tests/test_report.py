"""The class report (``grader.reports.report``) on a synthetic class (``grader.course_release.samples_class``) whose
outcomes are planned before grading: every status and every named mistake is counted exactly."""
from __future__ import annotations

import csv
import json
import os
import tempfile

import pytest

from grader.reports import grades_csv
from grader.course_release import samples_class
from grader.pipeline.results import GradeRow

os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))

LESSONS = ["lesson1", "lesson4"]   # the class's (tests/shared_batches.py)


@pytest.fixture
def graded(graded_class):
    """A class of 6 per lesson, graded by one worker; autograde writes the report at the end
    (tests/conftest.py; tests/test_grader_cluster.py grades the same class again on Dask)."""
    return graded_class


@pytest.mark.slow
def test_the_report_counts_every_planned_outcome_and_mistake(graded):
    expected = json.loads((graded / "expected.json").read_text())
    with open(graded / "out" / "report.csv", newline="") as handle:
        lines = list(csv.DictReader(handle))
    shown = {(l["lesson"], l["exercise"], l["what"], l["value"]): sorted(l["students"].split())
             for l in lines if l["what"] in ("status", "mistake")}
    assert shown == samples_class.planned_counts(expected)
    for line in lines:
        if line["what"] != "hidden test failed":
            assert int(line["count"]) == len(line["students"].split())
    kinds = {plan["kind"] for lessons in expected.values() for plan in lessons.values()}
    assert kinds == set(samples_class.KINDS)
    injected = {o["mistake"] for ls in expected.values() for p in ls.values() for o in p["tests"].values()}
    assert len(injected - {None}) >= 5     # a class with real mistakes in it, in both lessons
    wrong_at = {e for ls in expected.values() for p in ls.values() for e, o in p["tests"].items() if o["mistake"]}
    assert {"lesson4_q1", "lesson4_q2"} <= wrong_at   # functions of a model, one of them a generator


@pytest.mark.slow
def test_the_report_page_is_self_contained_and_shows_the_plots(graded):
    page = (graded / "out" / "report.html").read_text()
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    assert "Content-Security-Policy" in page and page.count("data:image/png;base64,") == 2 * len(LESSONS)
    assert "lesson1.q1:largest_id" in page and "s002" in page


@pytest.mark.slow
def test_grader_report_rewrites_the_report_from_out(graded, tmp_path, capsys):
    import shutil

    from grader.cli import main

    out = shutil.copytree(graded / "out", tmp_path / "out")   # the graded class is shared: left as it is
    (out / "report.csv").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.csv").exists()


def _signed_out(tmp_path, results: dict, rows: list[dict], forged: tuple = ()):
    """An OUT folder: grades.csv from ``rows``, each result saved as autograde saves it (signed,
    except the students in ``forged``, whose signature is another key's)."""
    from grader.pipeline import signing

    secret = signing.key()
    for (student, lesson), result in results.items():
        fields = {"student": student, "notebook": lesson, "key": "k", "result": result}
        signature = signing.sign(b"x" * 32 if student in forged else secret, fields)
        path = tmp_path / "results" / student / f"{lesson}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": "k", "signature": signature, "result": result}))
    grades_csv.write(tmp_path / "grades.csv", [GradeRow.from_dict(r) for r in rows])
    return tmp_path


def _result(student, status, tests):
    problems = [{"grade_id": f"lesson1_q{i + 1}", "problem": f"lesson1.q{i + 1}", "max_score": 1.0,
                 "score": float(v == "Correct"), "status": v, "message": "", **extra}
                for i, (v, extra) in enumerate(tests)]
    row = {"student_id": student, "notebook": "lesson1", "score": sum(p["score"] for p in problems),
           "max_score": 2.0, "status": status, "reason": "ran past 400 s" if status == "timeout" else ""}
    return row, problems


def test_the_counts_come_from_signed_results_of_the_rows_in_grades_csv(tmp_path):
    """A forged result, or a stale one (not the row grades.csv holds), counts nowhere; a missing
    notebook is "no result" in each exercise; a mistake is counted by id with who made it."""
    from grader.reports import report

    wrong = ("Incorrect", {"mistake": "lesson1.q1:largest_id", "failed_tests": ["hidden test 3", "test 1"]})
    cases = {"a": ("graded", [wrong, ("Correct", {})]), "b": ("graded", [wrong, ("Incorrect", {})]),
             "c": ("timeout", [("Correct", {}), ("Not run", {})]), "forger": ("graded", [wrong, wrong])}
    results, rows = {}, []
    for student, (status, tests) in cases.items():
        row, problems = _result(student, status, tests)
        results[(student, "lesson1")] = {"row": row, "problems": problems}
        rows.append(row)
    stale_row, stale = _result("stale", "graded", [wrong, wrong])
    results[("stale", "lesson1")] = {"row": stale_row, "problems": stale}
    rows.append({**stale_row, "score": 2.0})   # graded again since: this result is not that row's
    rows.append({"student_id": "d", "notebook": "lesson1", "score": 0.0, "max_score": 2.0, "status": "missing",
                 "reason": "no lesson1.ipynb was submitted"})
    out = _signed_out(tmp_path, results, rows, forged=("forger",))
    lessons = report.summarise(report.read_rows(out), report.read_results(out))
    q1, q2 = lessons["lesson1"].exercises["lesson1_q1"], lessons["lesson1"].exercises["lesson1_q2"]
    assert dict(q1.mistakes) == {"lesson1.q1:largest_id": ["a", "b"]}
    assert dict(q1.hidden_failed) == {"hidden test 3": 2}
    assert dict(q2.mistakes) == {"(no named mistake)": ["b"]}
    assert {s: sorted(v) for s, v in q2.statuses.items() if v} == {
        "Correct": ["a"], "Incorrect": ["b"], "Not run": ["c"], report.NO_RESULT: ["d", "forger", "stale"]}
    assert [s for s, _ in lessons["lesson1"].statuses["timeout"]] == ["c"]
    assert sorted(lessons["lesson1"].unverified) == ["forger", "stale"]   # and the page says so
    csv_path, html_path = report.write_report(out)
    assert "lesson1,lesson1_q1,mistake,lesson1.q1:largest_id,2,a b" in csv_path.read_text()
    assert "2 notebook(s) left out of the exercise counts" in html_path.read_text()


def test_a_verdict_names_the_mistake_of_the_first_failing_test_by_its_stable_id():
    from course_utils.checking.registry import get_problem

    problem = get_problem("lesson1.q6")
    probes = [{"spec": s, "hidden": h, "answer": problem.stripped(s) if s.startswith(" ") else problem.expected(s)}
              for s, h in [(s, False) for s in problem.public_probes] + [(s, True) for s in problem.hidden_probes]]
    verdict = problem.judge_recorded({"probes": probes})
    assert verdict.mistake == "lesson1.q6:stripped" and verdict.to_dict()["mistake"] == verdict.mistake
    assert verdict.to_dict()["failed_tests"] == [f"{'hidden ' if p['hidden'] else ''}test {i + 1}"
                                                 for i, p in enumerate(probes) if p["spec"].startswith(" ")]
    value = get_problem("lesson1.q1")
    assert value.judge_recorded({"value": value.largest_id()}).mistake == "lesson1.q1:largest_id"
    assert "mistake" not in value.judge_recorded({"value": value.expected()}).to_dict()


TAMPERED = "your notebook changes how it is graded (cell 3 changes `compare.mismatch`): no answer in it counts"


def _class_out(tmp_path):
    """A lesson1 class of every kind: graded (with a feedback page), zeroed for tampering (and an
    edited locked cell), a reference used in one test, missing, invalid, wrong_lesson."""
    results, rows = {}, []
    for student, status, tests, reason in [
            ("ada", "graded", [("Correct", {}), ("Correct", {})], ""),
            ("eve", "graded", [("Incorrect", {"message": TAMPERED}), ("Incorrect", {"message": TAMPERED})],
             "locked cell `lesson1_q2` was edited; the original was restored; changes how it is graded: cell 3 "
             "changes `compare.mismatch`"),
            ("ref", "graded", [("Correct", {}), ("Incorrect", {"message": "your answer calls the course's reference "
                                                                           "implementation (`f`): write it"})], "")]:
        row, problems = _result(student, status, tests)
        row["reason"] = reason
        results[(student, "lesson1")] = {"row": row, "problems": problems}
        rows.append(row)
    for student, status in [("cy", "missing"), ("dee", "invalid"), ("fay", "wrong_lesson")]:
        rows.append({"student_id": student, "notebook": "lesson1", "score": 0.0, "max_score": 2.0, "status": status,
                     "reason": f"{status} reason"})
    out = _signed_out(tmp_path, results, rows)
    (out / "feedback" / "ada").mkdir(parents=True)
    (out / "feedback" / "ada" / "lesson1.html").write_text("<p>page</p>")
    return out


def test_the_counts_say_what_they_count_and_integrity_is_no_mistake(tmp_path):
    from grader.reports import report

    out = _class_out(tmp_path)
    built = report.class_report(out, report.read_rows(out), report.read_results(out))
    lesson = built.lessons["lesson1"]
    assert (lesson.submitted, lesson.missing, lesson.not_gradable) == (3, 1, 2)
    assert sorted(lesson.scores) == [0.0, 1.0, 2.0]          # the submitted notebooks' only
    q1, q2 = lesson.exercises["lesson1_q1"], lesson.exercises["lesson1_q2"]
    assert q1.statuses[report.ZEROED] == ["eve"] and q2.statuses[report.ZEROED] == ["eve", "ref"]
    assert not q1.mistakes and not q2.mistakes and not q2.statuses.get("Incorrect")
    kinds = {s: [(f.kind, f.zeroes) for f in c["lesson1"].flags] for s, c in built.cells.items()}
    assert kinds == {"ada": [], "cy": [], "dee": [], "fay": [], "ref": [("reference use", True)],
                     "eve": [("tampering", True), ("edited locked cell", False)]}
    assert built.cells["ada"]["lesson1"].link == "feedback/ada/lesson1.html"
    assert built.cells["cy"]["lesson1"].link is None


def test_the_page_opens_with_the_class_table_then_integrity_then_lessons(tmp_path):
    from grader.reports import report

    _, html_path = report.write_report(_class_out(tmp_path))
    page = html_path.read_text()
    assert page.index('id="class"') < page.index('id="integrity"') < page.index('id="lesson-lesson1"')
    assert page[page.index("<h2"):].startswith('<h2 id="class">The class</h2>')   # the class comes first
    assert '<a href="feedback/ada/lesson1.html">2 / 2</a>' in page and "✓ graded" in page
    assert "– missing" in page and "✗ invalid" in page and "✗ wrong_lesson" in page
    assert "<b>3</b> submitted" in page and "<b>1</b> missing" in page and "<b>2</b> not gradable" in page
    integrity = page[page.index('id="integrity"'):page.index('id="lesson-lesson1"')]
    assert "zeroed: tampering" in integrity and "<code>compare.mismatch</code>" in integrity
    assert "noted: edited locked cell" in integrity and "zeroed: reference use" in integrity
    assert "ada" not in integrity and "of the 3 submitted" in page


def test_one_csv_has_a_column_per_exercise(tmp_path):
    from grader.reports import exercise_scores, report

    out = _class_out(tmp_path)
    report.write_report(out)
    with open(out / exercise_scores.FILE, newline="") as handle:
        table = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert list(table["ada"]) == ["student_id", "lesson1_q1", "lesson1_q2", "lesson1 total"]
    assert table["ada"]["lesson1_q1"] == "1" and table["ref"]["lesson1_q2"] == "0"
    assert table["ref"]["lesson1 total"] == "1"
    assert table["cy"] == {"student_id": "cy", "lesson1_q1": "", "lesson1_q2": "", "lesson1 total": ""}


@pytest.mark.slow
def test_the_demos_report_counts_match_grades_csv(tmp_path_factory):
    """The sample class (``python -m grader demo``'s): each cell of the class table and each lesson's
    counts are those of grades.csv; eve's tampering is in Integrity, never a mistake."""
    import demo_batch
    from grader.reports import report

    out = demo_batch.graded_demo(tmp_path_factory)
    rows = report.read_rows(out)
    page = (out / "report.html").read_text()
    built = report.class_report(out, rows, report.read_results(out))
    for row in rows:
        cell = built.cells[row["student_id"]][row["notebook"]]
        assert cell.row == row
        points = f'{float(row["score"]):g} / {float(row["max_score"]):g}'
        assert (f'<a href="{cell.link}">{points}</a>' if cell.link else points) in page
    for name, lesson in built.lessons.items():
        mine = [r for r in rows if r["notebook"] == name]
        ran = [r for r in mine if r["status"] in ("graded", "timeout", "oom", "crash")]
        assert lesson.submitted == len(ran) and lesson.missing == sum(r["status"] == "missing" for r in mine)
        assert lesson.not_gradable == len(mine) - len(ran) - lesson.missing
        assert sorted(lesson.scores) == sorted(float(r["score"]) for r in ran)
        assert f"<b>{len(ran)}</b> submitted" in page
    with open(out / "report.csv", newline="") as handle:
        counted = {(line["lesson"], line["value"]): int(line["count"]) for line in csv.DictReader(handle)
                   if line["what"] == "row status"}
    assert counted == {(n, s): sum(r["notebook"] == n and r["status"] == s for r in rows) for n, s in counted}
    assert sum(counted.values()) == len(rows)
    eve = built.cells["eve"]["lesson1"]
    assert [f.kind for f in eve.flags if f.zeroes] == ["tampering"]
    assert not any("eve" in students for e in built.lessons["lesson1"].exercises.values()
                   for students in e.mistakes.values())
