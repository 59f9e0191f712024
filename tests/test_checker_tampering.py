"""A notebook whose cells change how it is graded earns nothing; code the text does not show is
noted for review (issue 18, items 1 and 6).

The grading kernel is the student's: a cell that replaces an exercise's ``grade`` (or the exercise
itself), the checker's modules, IPython's transformers or ``sys.modules`` can record what it likes
inside a test cell. The grader reads the student's cells for that (``checker_tampering``: every
exercise 0, with the cell and the reason) and for code built at run time (``run_time_code``: a note
on the row, no points lost). The course's own solutions and demos read as neither.
"""
from __future__ import annotations

import pytest

from course_utils.checking.checker_tampering import checker_tampering, mark_tampering
from course_utils.checking.run_time_code import run_time_code


def cell(source):
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": {"solution": True, "grade_id": "a"}}}


def locked(source):
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": {"locked": True, "grade_id": "setup"}}}


SETUP = locked("from course_utils.lessons.lesson5 import *")
TAMPERING = {
    "q4.grade = print": "changes `q4.grade`",
    "setattr(q4, 'gr' + 'ade', print)": "changes `q4`",
    "type(q4).grade = print": "changes `type(q4).grade`",
    "%time q4.grade = print": "changes `q4.grade`",   # read as IPython runs it, magics included
    "%%capture out\nq4.grade = print": "changes `q4.grade`",
    "from course_utils.checking import problem\nproblem.emit_answer_record = print": "problem.emit_answer_record",
    "get_ipython().input_transformers_post.append(lambda lines: lines)": "input_transformers_post",
    "ip = get_ipython()\nget_ipython().events.register('pre_run_cell', print)": "events",
    "import sys\nsys.modules['course_utils.checking.records'] = None": "sys.modules",
    "import sys\nsys.modules.pop('course_utils.lessons.lesson5')": "sys.modules",
    "import IPython.display as d\nd.display = print": "d.display",
    "import builtins\nbuiltins.print = len": "builtins.print",
    "q4.__dict__.update(grade=print)": "q4.__dict__",
    "vars(q4).__setitem__('grade', print)": "vars(q4)",
}


def assert_read(reader, source, expected):
    """``reader`` finds ``source`` in a student's cell (the second), says ``expected``, and lets the
    same text pass in a locked cell: the release's own cells are the course's."""
    reason = reader([SETUP, cell(source)])
    assert reason is not None and reason.startswith("cell 2 ") and expected in reason, reason
    assert reader([locked(source)]) is None


@pytest.mark.parametrize("source", sorted(TAMPERING))
def test_a_cell_that_changes_the_checker_is_read_and_the_notebook_earns_nothing(source):
    assert_read(checker_tampering, source, TAMPERING[source])
    entries = [{"problem": "lesson5.q4", "score": 1.0, "status": "Correct", "message": ""}]
    mark_tampering([SETUP, cell(source)], entries)
    assert entries[0]["score"] == 0 and "changes how it is graded" in entries[0]["message"]


def test_no_solution_or_demo_of_the_course_reads_as_tampering():
    """Every source notebook, its solutions filled in, and a student's ordinary own cells."""
    import nbformat

    from grader.course_release.release import SOURCE_DIR

    ordinary = cell("def f(q1):\n    q2 = q1 + 1\n    return q2\nimport sys\n"
                    "sys.path.append('.')\nmodel.config.pad_token_id = 0\nresults = {}\nresults['a'] = 1")
    for path in sorted(SOURCE_DIR.glob("lesson*/lesson*.ipynb")):
        cells = [dict(c) for c in nbformat.read(path, as_version=4).cells]
        assert checker_tampering(cells) is None, path
        assert checker_tampering(cells + [ordinary]) is None, path


RUN_TIME = {
    "exec('q4.gr' + 'ade = print')": "calls `exec()`",
    "f = eval('len')": "calls `eval()`",
    "m = __import__('course_utils.refer' + 'ence.pt')": "calls `__import__()`",
    "name = 'gr' + 'ade'\nsetattr(ref_pt, name, print)": "with a name computed at run time",
    "g = (lambda: 0).__globals__": "internals",
    "subclasses = ().__class__.__base__.__subclasses__()": "internals",
    "import gc\nobjects = gc.get_objects()": "imports `gc`",
    "import sys\nm = sys.modules['course_utils.reference.pt']": "`sys.modules`",
    "import os\nos.system('python -c 1')": "`os.system`",
    "!python -c 'print(1)'": "runs a shell command",
    "%run helper.py": "`%run`",
    "import helper_written_at_run_time": "not installed",
    "n = get_ipython().user_ns": "the shell itself",
    "list(map(setattr, [q4], ['grade'], [print]))": "as a value",
    "%time exec('q4.gr' + 'ade = print')": "calls `exec()`",
    "from sys import settrace": "imports `settrace` from `sys`",
    "from sys import modules": "imports `modules` from `sys`",
    "import sys as s\ns.setprofile(None)": "`sys.setprofile`",
    "e = getattr(getattr(print, '__self__'), 'exec')": "in a string",
    "import operator\nc = operator.attrgetter('__code__')": "`__code__`",
    "open('colorsys.py', 'w').write('x = 1')\nimport colorsys": "a module the notebook wrote",
    "from unittest import mock\nmock.patch('course_utils.checking.problem.emit_answer_record').start()":
        "imports `unittest`",
    "memory = open('/proc/self/mem', 'r+b')": "process files",
    "x = __builtins__": "`__builtins__`",
}


@pytest.mark.parametrize("source", sorted(RUN_TIME))
def test_code_built_at_run_time_is_noted_for_review(source):
    assert_read(run_time_code, source, RUN_TIME[source])


SCRATCH = ["class Fake:\n    def grade(self, **kw):\n        pass\nq4 = Fake()", "def f():\n    global q4\n    q4 = None",
           "q1, q3 = np.percentile(lengths, [25, 75])\nq4 = []\nq4.append(q1)", "for q2 in range(3):\n    pass"]


@pytest.mark.parametrize("source", SCRATCH)
def test_a_students_own_names_that_collide_with_qk_are_only_variables(source):
    """Test cells find their exercise by id (``graded_cell``): a scratch ``q4`` changes no grade."""
    assert checker_tampering([SETUP, cell(source)]) is None
    assert run_time_code([SETUP, cell(source)]) is None


def test_ordinary_code_is_not_noted():
    source = ("%matplotlib inline\n%timeit sum(range(10))\nimport numpy as np\nimport torch\n"
              "from collections import Counter\nx = getattr(torch, 'float32')\nclass A:\n"
              "    def __init__(self):\n        super().__init__()\nprint(torch.__version__)")
    assert run_time_code([SETUP, cell(source)]) is None
    # issue 31: ordinary tools are no event that can change a grade
    extras = ("import inspect\nprint(inspect.signature(len))\nimport importlib, math\nimportlib.reload(math)\n"
              "import pickle\nblob = pickle.dumps({'a': 1})\nfor name in ['n_embd', 'n_layer']:\n"
              "    print(getattr(model.config, name))\n%time total = sum(range(10))\n"
              "%%timeit -n 1 -r 1\nsorted([3, 1, 2])\n")
    for part in extras.split("%%timeit"):
        assert run_time_code([SETUP, cell(part if not part.startswith(" -n") else "%%timeit" + part)]) is None, part
    assert checker_tampering([SETUP, cell(extras.split("%%timeit")[0])]) is None


def test_no_solution_of_the_course_is_noted_for_review():
    import nbformat

    from grader.course_release.release import SOURCE_DIR

    from grader.course_release import release

    for path in sorted(SOURCE_DIR.glob("lesson*/lesson*.ipynb")):
        lesson = path.stem
        solved = [dict(c) for c in nbformat.read(path, as_version=4).cells]   # demos as released
        released = release.generate([lesson])[lesson].cells
        assert run_time_code(solved, released) is None, path
    assert run_time_code(solved_lesson2(), []) is None   # lesson 2's inspect demo, read as a student's: no note


def solved_lesson2():
    import nbformat

    from grader.course_release.release import SOURCE_DIR

    return [dict(c) for c in nbformat.read(SOURCE_DIR / "lesson2" / "lesson2.ipynb", as_version=4).cells]
