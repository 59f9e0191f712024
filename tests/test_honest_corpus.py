"""Honest students lose no point and get no note (issue 31, item 1), graded by the real grader.

One small batch of lesson 1 (forked kernels, one worker: CI's time), each notebook complete and
correct, with the innocent extras the third red team found zeroed or noted: scratch names that
collide with the exercises' ``qK`` (after the last test cell, and between them), ``%time`` /
``%timeit``, ``importlib.reload``, ``getattr`` over config names, ``pickle``, ``inspect``, plots.
Beside them, the attacks that need the same kind of batch (tests/test_grader_attacks.py holds the
three-engine suite): each earns nothing, from what ran.
"""
from __future__ import annotations

import os
import tempfile

import pytest

from grader.course_release import release
from grader.course_release.samples import answered, insert_after
from grader.pipeline import autograde
from grader.sandbox import bwrap

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bwrap.executable() is None, reason="bubblewrap is not installed")]
os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))

OPTIONS = {"cell_timeout": 60, "notebook_timeout": 300, "memory_mb": 3000, "kernel": "fork"}
SCRATCH_BETWEEN = "import numpy as np\nlengths = [3, 5, 8, 13, 21]\nq1, q3 = np.percentile(lengths, [25, 75])"
SCRATCH_AFTER = ("q1, q2 = min(lengths), max(lengths)\nq4 = len(lengths)\nq3 = [n for n in lengths if n > q1]\n"
                 "q3.append(q2)\nprint(q1, q2, q3, q4)")
TOOLS = """\
%matplotlib inline
import importlib, inspect, pickle
import math
importlib.reload(math)
print(inspect.signature(math.isclose))
from transformers import GPT2Config
config = GPT2Config()
for name in ["n_embd", "n_layer", "n_head", "vocab_size"]:
    print(name, getattr(config, name))
blob = pickle.dumps({"lengths": lengths})
assert pickle.loads(blob)["lengths"] == lengths
import matplotlib.pyplot as plt
plt.plot(lengths)
plt.show()
%time total = sum(lengths)
%timeit -n 2 -r 1 sorted(lengths)
"""
TIMED_CELL = "%%timeit -n 1 -r 1\nsorted(lengths)"


def honest_notebooks(lesson1) -> dict:
    full = answered(lesson1, "lesson1")
    scratch = insert_after(full, "lesson1_q1", SCRATCH_BETWEEN)
    scratch.cells.append(__import__("nbformat").v4.new_code_cell(SCRATCH_AFTER))
    tools = insert_after(insert_after(scratch, "lesson1_q2", TOOLS), "lesson1_q3", TIMED_CELL)
    return {"honest_scratch": scratch, "honest_tools": tools}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    lesson1 = release.generate(["lesson1"])["lesson1"]
    root = tmp_path_factory.mktemp("honest-corpus")
    for name, nb in honest_notebooks(lesson1).items():
        (root / "submissions" / name).mkdir(parents=True)
        (root / "submissions" / name / "lesson1.ipynb").write_text(release.dumps(nb))
    report = autograde.autograde(root / "submissions", root / "out", workers=1, options=OPTIONS, progress=False)
    return {(r["student_id"], r["notebook"]): r for r in report.table()}


@pytest.mark.parametrize("student", ["honest_scratch", "honest_tools"])
def test_an_honest_notebook_with_innocent_extras_gets_full_marks_and_no_note(corpus, student):
    row = corpus[(student, "lesson1")]
    assert row["status"] == "graded" and row["score"] == row["max_score"] > 0, row
    assert row["reason"] == "", row
