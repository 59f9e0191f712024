"""The class report (``grader.report``) on a synthetic class (``grader.samples_class``) whose
outcomes are planned before grading: every status and every named mistake is counted exactly."""
from __future__ import annotations

import csv
import json
import os
import tempfile
from collections import defaultdict

import pytest

from grader import autograde, samples_class

pytestmark = pytest.mark.slow
os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))

LESSONS = ["lesson1", "lesson4"]
OPTIONS = {"cell_timeout": 60, "notebook_timeout": 400, "memory_mb": 3000}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class of 6 per lesson, graded by one worker; autograde writes the report at the end."""
    root = tmp_path_factory.mktemp("class")
    submissions = samples_class.write_class(6, root, LESSONS, seed=21)
    autograde.autograde(submissions, root / "out", workers=1, options=OPTIONS, progress=False)
    return root


def _planned(expected: dict) -> dict:
    """``{(lesson, exercise, what, value): sorted students}`` the report must show."""
    counts = defaultdict(list)
    for student, lessons in expected.items():
        for lesson, plan in lessons.items():
            for exercise, outcome in plan["tests"].items():
                counts[(lesson, exercise, "status", outcome["status"])].append(student)
                if outcome["mistake"]:
                    counts[(lesson, exercise, "mistake", outcome["mistake"])].append(student)
    return {key: sorted(students) for key, students in counts.items()}


def test_the_report_counts_every_planned_outcome_and_mistake(graded):
    expected = json.loads((graded / "expected.json").read_text())
    with open(graded / "out" / "report.csv", newline="") as handle:
        lines = list(csv.DictReader(handle))
    shown = {(l["lesson"], l["exercise"], l["what"], l["value"]): sorted(l["students"].split())
             for l in lines if l["what"] in ("status", "mistake")}
    assert shown == _planned(expected)
    for line in lines:
        if line["what"] != "hidden test failed":
            assert int(line["count"]) == len(line["students"].split())
    kinds = {plan["kind"] for lessons in expected.values() for plan in lessons.values()}
    assert kinds == set(samples_class.KINDS)
    injected = {o["mistake"] for ls in expected.values() for p in ls.values() for o in p["tests"].values()}
    assert len(injected - {None}) >= 5     # a class with real mistakes in it, in both lessons


def test_the_report_page_is_self_contained_and_shows_the_plots(graded):
    page = (graded / "out" / "report.html").read_text()
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    assert "Content-Security-Policy" in page and page.count("data:image/png;base64,") == 2 * len(LESSONS)
    assert "lesson1.q1:largest_id" in page and "s002" in page


def test_grader_report_rewrites_the_report_from_out(graded, capsys):
    from grader.cli import main

    (graded / "out" / "report.csv").unlink()
    assert main(["report", str(graded / "out")]) == 0
    assert (graded / "out" / "report.csv").exists()


def test_a_dask_cluster_grades_the_class_and_reports_it_as_the_local_pool(graded, tmp_path):
    """The same class on ``--local-cluster`` (TLS, its own worker processes): identical grades.csv
    and report.csv. COURSE_TEST_CLUSTER_WORKERS sets the cluster's size (default 2, the issue's)."""
    pytest.importorskip("distributed")
    from grader import cluster

    workers = int(os.environ.get("COURSE_TEST_CLUSTER_WORKERS", "2"))
    with cluster.dask_executor(local_workers=workers) as executor:
        autograde.autograde(graded / "submissions", tmp_path / "dask", options=OPTIONS, progress=False,
                            executor=executor)
    for name in ("grades.csv", "report.csv"):
        assert _rows(tmp_path / "dask" / name) == _rows(graded / "out" / name), name


def _rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
