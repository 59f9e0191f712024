"""A student with only one framework: each framework's exercises are checked without the other
framework ever being imported (transformers is told the other is absent, as on a machine without
it), and each exercise's own published solution (its source notebook's solution region) is judged
Correct there, hidden probes included."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SCRIPT = r"""
import importlib, json, sys
import numpy as np
framework = sys.argv[1]
from course_utils import load_model, load_tokenizer
from course_utils.checking import FunctionProblem
tokenizer = load_tokenizer()
# What the notebooks define before their exercises and the solutions use.
namespace = {"np": np, "tokenizer": tokenizer, "period_id": tokenizer.encode(".")[0]}
if framework == "pt":
    import torch
    from course_utils.reference import pt as ref_pt   # lesson 7's setup cell: its capstone builds on it
    namespace.update(torch=torch, ref_pt=ref_pt)
else:
    import tensorflow as tf
    namespace["tf"] = tf
namespace["model"] = load_model(framework, "course")
results = {}
for lesson in ["lesson2", "lesson3", "lesson4", "lesson5", "lesson6", "lesson7"]:
    checks = importlib.import_module(f"course_utils.lessons.{lesson}")
    ns = dict(namespace)  # one per lesson, as in its notebook: a solution may use an earlier one
    ns.update({name: getattr(checks, name) for name in getattr(checks, "__all__", [])})  # `import *`
    for name in checks.qvars:
        problem = getattr(checks, name)
        if getattr(problem, "framework", None) != framework or not isinstance(problem, FunctionProblem):
            continue
        assert problem.solution_code, problem.id
        exec(problem.solution_code, ns)
        results[problem.id] = str(problem.verdict(ns, grading=True))
other = "tensorflow" if framework == "pt" else "torch"
print("RESULT" + json.dumps({"results": results, "other_imported": other in sys.modules}))
"""


@pytest.mark.parametrize("framework, hide", [("pt", "USE_TF"), ("tf", "USE_TORCH")])
def test_checks_run_with_one_framework_only(framework, hide):
    env = {**os.environ, hide: "0", "COURSE_MODEL": "course", "HF_HUB_OFFLINE": "1"}
    env.pop("COURSE_GRADING", None)
    run = subprocess.run([sys.executable, "-c", SCRIPT, framework], env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.split("RESULT", 1)[1])
    assert report["results"], "no exercise of this framework was found"
    assert not report["other_imported"], f"checking {framework} exercises imported the other framework"
    wrong = {pid: verdict for pid, verdict in report["results"].items() if not verdict.startswith("Correct")}
    assert not wrong, wrong
