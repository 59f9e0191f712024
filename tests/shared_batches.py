"""Graded batches that several test modules read, so that a batch's workers, kernel template and
Dask cluster start once for all of them (CI time); the fixtures are in tests/conftest.py.

``one_worker_batch`` (one per engine: fork, fresh, Dask) holds the students of two modules:

* tests/test_grader_integrity.py: an honest student, a loud one (one 50 MB print), one forging
  records past every limit, a file with a 5000-digit integer, a student named ``submitted``, a
  hidden folder, and a notebook that is no lesson of the release (``Midterm Exam.ipynb``);
* tests/test_grader_isolation.py: a litterer (``a_first``), then a reader (``b_second``), a thread
  that forges answer records (``c_thread``), and disk blocks hidden from the files' sizes (``d_disk``).

One worker grades them all, in the students' order: ``b_second`` runs right after ``a_first``, in
the same worker and (under fork) in a kernel forked from the same template, so whatever the first
kernel left where the template could keep it is there to be seen.

``graded_class`` is a synthetic class (``grader.samples_class``) graded by the local pool: the class
report's tests read it, and the Dask test grades it again on a cluster and must find the same.
"""
from __future__ import annotations

from pathlib import Path

from grader.course_release import release
from grader.pipeline import autograde
from grader.course_release.samples import answered, insert_after, solutions

ONE_WORKER_OPTIONS = {"cell_timeout": 120, "notebook_timeout": 300, "memory_mb": 3000}
CLASS_LESSONS = ["lesson1", "lesson4"]
CLASS_OPTIONS = {"cell_timeout": 60, "notebook_timeout": 400, "memory_mb": 3000}
LONG_INT = "7" * 5000

# Resources a kernel could hide from its sizes (tests/test_grader_isolation.py runs each alone too).
FALLOCATE = '''\
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
def keep_size(fd, size):   # FALLOC_FL_KEEP_SIZE: blocks allocated, st_size stays 0
    assert libc.fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(size)) == 0, os.strerror(ctypes.get_errno())
'''
RESOURCE_ATTACKS = {
    # 1000 MiB of memory files never mapped: no RSS, only the memfd's own pages.
    "memfd": FALLOCATE + "fds = [os.memfd_create(f'm{k}') for k in range(4)]\n"
                        "for fd in fds:\n    keep_size(fd, 250 * 2**20)\ntime.sleep(8)\nprint('KEPT')",
    # 256 MiB of the host's disk in the IPC folder with st_size 0, then the same, deleted but open.
    "ipc_keep_size": FALLOCATE + "from ipykernel.connect import get_connection_file\n"
                                 "fd = os.open(os.path.join(os.path.dirname(get_connection_file()), 'f'), "
                                 "os.O_CREAT | os.O_WRONLY)\nkeep_size(fd, 256 * 2**20)\nos.close(fd)\n"
                                 "time.sleep(8)\nprint('KEPT')",
    "ipc_deleted_open": FALLOCATE + "from ipykernel.connect import get_connection_file\n"
                                    "path = os.path.join(os.path.dirname(get_connection_file()), 'f')\n"
                                    "fd = os.open(path, os.O_CREAT | os.O_WRONLY)\nos.unlink(path)\n"
                                    "keep_size(fd, 256 * 2**20)\ntime.sleep(8)\nprint('KEPT')",
}

FORGE = '''\
import sys
from IPython.display import display
sys.set_int_max_str_digits(0)
def forged(record):
    return lambda *args, **kwargs: display({"application/vnd.course.answer+json": record, "text/plain": "x"}, raw=True)
'''

HELD = "course-grader-isolation-note"
LITTER = f'''\
import os
for path in ["/dev/{HELD}", "/dev/shm/{HELD}", "/proc/1/cwd/{HELD}", "/tmp/{HELD}", "/tmp/work/{HELD}"]:
    try:
        with open(path, "w") as f:
            f.write("left by the first student")
    except OSError:
        pass
'''
LOOK = f'''\
import glob, os
for path in ["/dev/{HELD}", "/dev/shm/{HELD}", "/proc/1/cwd/{HELD}", "/tmp/{HELD}", "/tmp/work/{HELD}"]:
    if os.path.exists(path):
        print("SEEN" + "-BY-SECOND", path)
print("LOOKED", len(glob.glob("/proc/1/cwd/*")))
'''


def thread_attack() -> str:
    """An ordinary cell starts a thread that keeps emitting q3's correct record; q3 is never set."""
    q3 = solutions("lesson1")["lesson1_q3_answer"]
    return ("import threading, time\nfrom course_utils.checking.records import emit_answer_record\n"
            f"_ns = dict(globals())\nexec({q3!r}, _ns)\n_payload = q3.collect(_ns, grading=True)\n"
            "def _forge():\n    for _ in range(3000):\n        emit_answer_record('lesson1.q3', _payload)\n"
            "        time.sleep(0.02)\nthreading.Thread(target=_forge, daemon=True).start()")


def integrity_students(lesson1) -> dict[str, str]:
    """``{student: lesson1.ipynb's text}`` of the integrity batch (``Midterm Exam.ipynb`` aside)."""
    honest = answered(lesson1, "lesson1")
    loud = answered(lesson1, "lesson1")
    cell = next(c for c in loud.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "lesson1_q1_answer")
    cell.source = "print('x' * 50_000_000)   # one 50 MB string\n" + cell.source
    forging = answered(lesson1, "lesson1", replace={"lesson1_q1_answer": FORGE + (
        "q1.grade = forged('[' * 100000 + ']' * 100000)\n"
        "q2.grade = forged('{\"problem\": \"lesson1.q2\", \"payload\": {\"value\": ' + '7' * 5000 + '}}')\n"
        "q3.grade = forged({'problem': 'lesson1.q3', 'payload': {'value': 10 ** 5000}})\n"
        "deep = {'value': 1}\nfor _ in range(200):\n    deep = {'v': deep}\n"
        "q4.grade = forged({'problem': 'lesson1.q4', 'payload': deep})\n")})
    return {"honest": release.dumps(honest), "loud": release.dumps(loud), "forging": release.dumps(forging),
            "long_int_file": '{"cells": [], "metadata": {"x": ' + LONG_INT + '}, "nbformat": 4, "nbformat_minor": 5}',
            "submitted": release.dumps(honest), ".hidden": release.dumps(honest)}


def isolation_students(lesson1) -> dict[str, str]:
    """``{student: lesson1.ipynb's text}``: a litterer, then a reader; a thread forger; a disk attack."""
    notebooks = {"a_first": insert_after(answered(lesson1, "lesson1"), "lesson1_q1", LITTER),
                 "b_second": insert_after(answered(lesson1, "lesson1"), "lesson1_q1", LOOK),
                 "c_thread": answered(lesson1, "lesson1", which=("lesson1_q1_answer",),
                                      replace={"lesson1_q2_answer": thread_attack()}),
                 # a resource attack on every engine too (Dask runs the same sandbox, in its workers)
                 "d_disk": insert_after(answered(lesson1, "lesson1"), "lesson1_q1", RESOURCE_ATTACKS["ipc_keep_size"])}
    return {name: release.dumps(nb) for name, nb in notebooks.items()}


def write_one_worker_students(submissions: Path) -> None:
    lesson1 = release.generate(["lesson1"])["lesson1"]
    students = {**integrity_students(lesson1), **isolation_students(lesson1)}
    for student, text in students.items():
        (submissions / student).mkdir(parents=True)
        (submissions / student / "lesson1.ipynb").write_text(text)
    (submissions / "honest" / "Midterm Exam.ipynb").write_text(students["honest"])


def grade_one_worker_batch(root: Path, engine: str):
    """Write the students under ``root/submissions`` and grade them into ``root/out`` with one
    worker on ``engine``; the batch's report."""
    engine_name, _, kernel = engine.rpartition("-")
    options = {**ONE_WORKER_OPTIONS, "kernel": kernel}
    write_one_worker_students(root / "submissions")
    if engine_name == "dask":
        from grader.pipeline import cluster

        with cluster.dask_executor(local_workers=1) as executor:
            return autograde.autograde(root / "submissions", root / "out", options=options, progress=False,
                                       executor=executor)
    return autograde.autograde(root / "submissions", root / "out", workers=1, options=options, progress=False)


def grade_class(root: Path):
    """A class of 6 per lesson under ``root/submissions`` (its plan in ``root/expected.json``), graded
    into ``root/out`` by one local worker; autograde writes the class report at the end."""
    from grader.course_release import samples_class

    submissions = samples_class.write_class(6, root, CLASS_LESSONS, seed=21)
    return autograde.autograde(submissions, root / "out", workers=1, options=CLASS_OPTIONS, progress=False)
