"""grader export --format nbgrader: grades.csv and the saved results as nbgrader's own gradebook,
read back with nbgrader's API and exported by nbgrader's own `nbgrader export`."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import nbformat
import pytest

from grader.reports import grades_csv
from grader import cli
from grader.reports import export, export_nbgrader
from grader.course_release.release import SOURCE_DIR
from grader.pipeline.results import GradeRow

nbgrader_api = pytest.importorskip("nbgrader.api")


def _problems(lesson, earned):
    """The ``problems`` of a result: ``earned[i]`` points on the i-th test cell (0 after)."""
    cells = export_nbgrader.grade_cells(lesson)
    return [{"grade_id": gid, "problem": f"{lesson}.{gid.split('_', 1)[1]}", "max_score": points,
             "score": earned[i] if i < len(earned) else 0.0, "reached": True, "status": "x", "message": ""}
            for i, (gid, points, _) in enumerate(cells)]


def _max(lesson):
    return sum(points for _, points, _ in export_nbgrader.grade_cells(lesson))


@pytest.fixture
def out(tmp_path):
    """An autograde --out folder: grades.csv and, for what was graded, results/<student>/<lesson>.json."""
    graded = {  # (student, lesson): (status, per-cell points earned)
        ("ada", "lesson1"): ("graded", [1.0] * 20),
        ("ada", "lesson3"): ("graded", [1.0, 0.5, 0.0, 1.0]),
        ("ben", "lesson1"): ("timeout", [1.0, 1.0]),        # stopped after two tests: partial credit
        ("dee", "lesson3"): ("timeout", None),              # the whole job timed out: no tests at all
        ("dee", "lesson1"): ("error", None),
    }
    rows = []
    for (student, lesson), (status, earned) in graded.items():
        problems = _problems(lesson, earned) if earned is not None else []
        row = {"student_id": student, "notebook": lesson, "score": sum(p["score"] for p in problems),
               "max_score": _max(lesson), "status": status, "reason": "why"}
        path = tmp_path / "results" / student / f"{lesson}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": "k", "signature": "s", "result": {"row": row, "problems": problems}}))
        rows.append(row)
    for student, lesson, status in [("ben", "lesson3", "missing"), ("cy", "lesson1", "invalid"),
                                    ("cy", "lesson3", "wrong_lesson"), ("eve", "lesson1", "missing"),
                                    ("eve", "lesson3", "missing")]:
        rows.append({"student_id": student, "notebook": lesson, "score": 0.0, "max_score": _max(lesson),
                     "status": status, "reason": "why"})
    rows.append({"student_id": "eve", "notebook": "notes", "score": 0.0, "max_score": 0.0,  # no lesson
                 "status": "invalid", "reason": "notes.ipynb is not a notebook of this course"})
    grades_csv.write(tmp_path / "grades.csv", [GradeRow.from_dict(r) for r in rows])
    return tmp_path


def _expected(out):
    """``{(student, lesson): score}`` as grades.csv and export's status mapping say (zero for
    missing and invalid; a grader error is blank, which nbgrader scores 0)."""
    book = export.build(export.read_grades(out))
    return {(student, lesson): cell[0] or 0.0 for student, cells in book.cells.items()
            for lesson, cell in cells.items() if lesson != "notes"}


def test_grade_cells_are_the_source_notebooks_test_cells():
    for lesson in ("lesson1", "lesson3"):
        source = nbformat.read(SOURCE_DIR / lesson / f"{lesson}.ipynb", as_version=4)
        tests = [(c.metadata.nbgrader.grade_id, float(c.metadata.nbgrader.points)) for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("grade")]
        assert [(gid, points) for gid, points, _ in export_nbgrader.grade_cells(lesson)] == tests
        assert all(gid.startswith(f"{lesson}_q") for gid, _ in tests) and tests
    assert export_nbgrader.grade_cells("notes") == []


def test_gradebook_read_back_with_nbgrader_equals_grades_csv(out):
    path = export.export(out, "nbgrader")
    assert path == out / "gradebook.db"
    expected = _expected(out)
    with nbgrader_api.Gradebook(f"sqlite:///{path}") as gb:
        assert sorted(a.name for a in gb.assignments) == ["lesson1", "lesson3"]   # "notes" is no lesson
        for lesson in ("lesson1", "lesson3"):
            notebook = gb.find_notebook(lesson, lesson)
            assert [(c.name, c.max_score) for c in notebook.grade_cells] == \
                   [(gid, points) for gid, points, _ in export_nbgrader.grade_cells(lesson)]
            assert gb.find_assignment(lesson).max_score == _max(lesson)
        assert sorted(s.id for s in gb.students) == ["ada", "ben", "cy", "dee", "eve"]
        for (student, lesson), score in expected.items():
            status = next(r["status"] for r in export.read_grades(out)
                          if (r["student_id"], r["notebook"]) == (student, lesson))
            if status == "missing":
                with pytest.raises(nbgrader_api.MissingEntry):
                    gb.find_submission(lesson, student)
                continue
            submission = gb.find_submission(lesson, student)
            assert submission.score == pytest.approx(score), (student, lesson)
            assert submission.max_score == _max(lesson)
        totals = {s.id: sum(sub.score for sub in s.submissions) for s in gb.students}
        book = export.build(export.read_grades(out))
        assert totals == pytest.approx({student: book.total(student) for student in book.cells})
        assert {s.id: s.score for s in gb.students} == pytest.approx(totals)     # nbgrader's own total
        # per test cell: the points the grader gave each test
        grades = [gb.find_grade(gid, "lesson3", "lesson3", "ada").auto_score
                  for gid, _, _ in export_nbgrader.grade_cells("lesson3")]
        assert grades == [1.0, 0.5, 0.0, 1.0]
        ben = [gb.find_grade(gid, "lesson1", "lesson1", "ben") for gid, _, _ in export_nbgrader.grade_cells("lesson1")]
        assert [g.auto_score for g in ben[:3]] == [1.0, 1.0, 0.0] and not any(g.needs_manual_grade for g in ben)
        # a grader error: no score, waiting for a person, never an automatic zero
        dee = [gb.find_grade(gid, "lesson1", "lesson1", "dee") for gid, _, _ in export_nbgrader.grade_cells("lesson1")]
        assert all(g.auto_score is None and g.needs_manual_grade for g in dee)
        cy = gb.find_grade(export_nbgrader.grade_cells("lesson1")[0][0], "lesson1", "lesson1", "cy")
        assert cy.auto_score == 0.0 and not cy.needs_manual_grade


def test_nbgrader_export_shows_our_scores(out, tmp_path):
    path = export.export(out, "nbgrader")
    dest = tmp_path / "nbgrader-grades.csv"
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--db", f"sqlite:///{path}", "--to", str(dest)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with open(dest, newline="") as f:
        exported = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    expected = _expected(out)
    assert set(exported) == set(expected)
    for at, score in expected.items():
        assert float(exported[at]["score"]) == pytest.approx(score), at
        assert float(exported[at]["max_score"]) == _max(at[1])


def test_invalid_blank_waits_for_a_person_and_missing_is_no_submission(out):
    path = export.export(out, "nbgrader", missing="blank", invalid="blank")
    with nbgrader_api.Gradebook(f"sqlite:///{path}") as gb:
        cells = export_nbgrader.grade_cells("lesson1")
        cy = [gb.find_grade(gid, "lesson1", "lesson1", "cy") for gid, _, _ in cells]
        assert all(g.auto_score is None and g.needs_manual_grade for g in cy)
        with pytest.raises(nbgrader_api.MissingEntry):
            gb.find_submission("lesson3", "ben")
    with pytest.raises(ValueError, match="zero"):
        export.export(out, "nbgrader", invalid="half")


def test_an_existing_gradebook_is_updated_and_manual_grades_kept(out):
    path = export.export(out, "nbgrader")
    first = export_nbgrader.grade_cells("lesson1")[0][0]
    with nbgrader_api.Gradebook(f"sqlite:///{path}") as gb:
        gb.add_student("zed")                            # someone nbgrader knows and the grader does not
        gb.find_grade(first, "lesson1", "lesson1", "ben").manual_score = 0.25
        gb.db.commit()
    rows = export.read_grades(out)
    for row in rows:
        if (row["student_id"], row["notebook"]) == ("ada", "lesson3"):
            row.update(status="missing", score="0")       # graded again: now nothing was submitted
    grades_csv.write(out / "grades.csv", [GradeRow.from_dict(r) for r in rows])
    assert cli.main(["export", str(out), "--format", "nbgrader"]) == 0
    with nbgrader_api.Gradebook(f"sqlite:///{path}") as gb:
        assert "zed" in {s.id for s in gb.students}
        grade = gb.find_grade(first, "lesson1", "lesson1", "ben")
        assert grade.manual_score == 0.25 and grade.auto_score == 1.0 and grade.score == 0.25
        with pytest.raises(nbgrader_api.MissingEntry):
            gb.find_submission("lesson3", "ada")
    assert not (out / "gradebook.db.tmp").exists()


def test_a_result_that_is_not_what_grades_csv_says_is_refused(out, capsys):
    saved = json.loads((out / "results" / "ada" / "lesson3.json").read_text())
    saved["result"]["row"]["score"] = 1.0
    (out / "results" / "ada" / "lesson3.json").write_text(json.dumps(saved))
    assert cli.main(["export", str(out), "--format", "nbgrader"]) == 2
    assert "autograde again" in capsys.readouterr().err
    assert not (out / "gradebook.db").exists()
