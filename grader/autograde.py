"""Grade a folder of submissions: find them, grade them in parallel, write grades and feedback.

Layouts accepted: ``SUBMISSIONS/<student>/<lesson>.ipynb`` and nbgrader's
``SUBMISSIONS/submitted/<student>/<lesson>/<lesson>.ipynb`` (also without the ``submitted`` level).

Nothing is lost: each result is saved (atomically) as soon as it is known, under ``OUT/results``,
keyed by the submission's hash and the grader's fingerprint, so a rerun skips what it has already
graded and an interrupted run resumes. ``grades.csv`` is rebuilt from all results at the end, in a
temporary file that replaces the old one only when complete.
"""
from __future__ import annotations

import concurrent.futures as futures
import csv
import hashlib
import io
import json
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader import grade_one
from grader.release import generate, lessons, write_atomically

CSV_FIELDS = ["student_id", "notebook", "score", "max_score", "status", "reason"]

DEFAULT_OPTIONS = {
    "cell_timeout": 180,           # s; a check with sampling may take a while on a busy machine
    "notebook_timeout": 900,       # s for the whole notebook
    "memory_mb": 4096,             # resident memory of the kernel's process group
    "address_space_mb": 64 * 1024, # high on purpose: TensorFlow reserves far more than it uses
    "file_size_mb": 512,
    "max_cell_output_bytes": 4 * 2**20,  # printed output per cell; answer records have their own cap
    "network": "auto",             # "auto": blocked where unshare -rn works; "allow": not blocked
    "model": "course",             # COURSE_MODEL for the kernel and for the judge alike
}


@dataclass
class Submission:
    student: str
    notebook: str       # the file's stem: the lesson it should hold
    path: Path | None   # None: the student submitted nothing for this lesson


@dataclass
class BatchReport:
    rows: list = field(default_factory=list)
    graded_now: int = 0
    reused: int = 0


def find_submissions(root: Path) -> list[Submission]:
    """Every ``<student>/<notebook>.ipynb`` under ``root`` (either layout), sorted."""
    root = Path(root)
    if (root / "submitted").is_dir():
        root = root / "submitted"
    found = {}
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(student_dir.rglob("*.ipynb")):
            relative = path.relative_to(student_dir)
            if any(part.startswith(".") for part in relative.parts) or len(relative.parts) > 2:
                continue  # checkpoints and deeper folders are not submissions
            found.setdefault((student_dir.name, path.stem), path)
    return [Submission(student, notebook, path) for (student, notebook), path in sorted(found.items())]


def with_missing(submissions: list[Submission], expected: list[str]) -> list[Submission]:
    """Add a ``path=None`` entry for each expected lesson a student did not submit."""
    have = {(s.student, s.notebook) for s in submissions}
    students = sorted({s.student for s in submissions})
    extra = [Submission(st, nb, None) for st in students for nb in expected if (st, nb) not in have]
    return sorted(submissions + extra, key=lambda s: (s.student, s.notebook))


def fingerprint(lesson: str, release_text: str, options: dict) -> str:
    """What, besides the file, decides a lesson's grades: its release, the code that judges it
    (checker, references, loader, the lesson's checks), the bundled model, and the options."""
    package = Path(__file__).resolve().parent.parent / "course_utils"
    digest = hashlib.sha256(json.dumps([release_text, options], sort_keys=True).encode())
    paths = [*sorted((package / "checking").glob("*.py")), *sorted((package / "reference").glob("*.py")),
             package / "loading.py", package / "tokenizer.py", package / "lessons" / f"{lesson}.py",
             *sorted((package / "models").rglob("*.safetensors"))]
    for path in paths:
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def autograde(submissions_dir, out_dir, workers: int | None = None, options: dict | None = None,
              lesson_ids: list[str] | None = None, progress: bool = True, executor=None) -> BatchReport:
    """Grade everything under ``submissions_dir`` into ``out_dir``; returns the rows."""
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions_dir}")
    options = {**DEFAULT_OPTIONS, **(options or {})}
    known = lessons()
    releases = generate(lesson_ids or known)
    release_dir = out_dir / "release"
    keys = {}
    for lesson, nb in releases.items():
        text = nbformat.writes(nb)
        write_atomically(release_dir / f"{lesson}.ipynb", text)
        keys[lesson] = fingerprint(lesson, text, options)

    found = find_submissions(submissions_dir)
    expected = lesson_ids or sorted({s.notebook for s in found if s.notebook in known})
    todo, report = [], BatchReport()
    results = {}
    for sub in with_missing(found, expected):
        if sub.path is None:
            results[(sub.student, sub.notebook)] = _static_row(
                sub, grade_one.STATUS_MISSING, f"no {sub.notebook}.ipynb was submitted",
                grade_one.max_score(releases[sub.notebook]) if sub.notebook in releases else 0.0)
            continue
        if sub.notebook not in releases:
            results[(sub.student, sub.notebook)] = _static_row(
                sub, grade_one.STATUS_INVALID,
                f"{sub.path.name} is not a notebook of this course (expected one of: {', '.join(expected or known)})",
                0.0)
            continue
        key = hashlib.sha256(sub.path.read_bytes() + keys[sub.notebook].encode()).hexdigest()
        cached = _load_result(out_dir, sub, key)
        if cached is not None:
            results[(sub.student, sub.notebook)] = cached
            report.reused += 1
            continue
        todo.append((sub, key, {
            "student": sub.student, "notebook": sub.notebook, "path": str(sub.path),
            "release_path": str(release_dir / f"{sub.notebook}.ipynb"), "lesson_ids": known,
            "options": options,
            "feedback_path": str(out_dir / "feedback" / _safe(sub.student) / f"{sub.notebook}.html")}))

    log_dir = out_dir / "logs"
    for (sub, key, job), result in _run_all(todo, workers, options, progress, executor, log_dir):
        _save_result(out_dir, sub, key, result)
        results[(sub.student, sub.notebook)] = result
        report.graded_now += 1

    report.rows = [results[k]["row"] for k in sorted(results)]
    write_grades_csv(out_dir / "grades.csv", report.rows)
    return report


def _run_all(todo, workers, options, progress, executor, log_dir):
    """Yield ``(item, result)`` as submissions finish, with a progress bar of graded / failed."""
    if not todo:
        return
    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    own = executor is None
    if own:
        executor = futures.ProcessPoolExecutor(
            max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(options["model"], str(log_dir)))
    bar = tqdm(total=len(todo), unit="notebook", desc="grading", disable=not progress, dynamic_ncols=True)
    failed = 0
    try:
        pending = {executor.submit(grade_one.grade_submission, job): (sub, key, job) for sub, key, job in todo}
        for future in futures.as_completed(pending):
            item = pending[future]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - e.g. a worker process died
                result = grade_one._row(item[2], grade_one.STATUS_ERROR, 0.0, grade_one._max_score(item[2]),
                                        f"the grading worker failed ({type(error).__name__}: {error})")
            if result["row"]["status"] != grade_one.STATUS_GRADED:
                failed += 1
            bar.update(1)
            bar.set_postfix(graded=bar.n - failed, failed=failed)
            yield item, result
    finally:
        bar.close()
        if own:
            executor.shutdown(wait=True, cancel_futures=True)


def _init_worker(model: str, log_dir: str):
    """Each worker judges with the same model the kernels run, offline, on one thread each.

    The frameworks' native logging (TensorFlow ignores TF_CPP_MIN_LOG_LEVEL for some of it) goes
    to ``OUT/logs/worker-<pid>.log`` rather than over the progress bar.
    """
    os.makedirs(log_dir, exist_ok=True)
    log = os.open(os.path.join(log_dir, f"worker-{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update({"COURSE_MODEL": model, "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                       "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
                       "TF_NUM_INTEROP_THREADS": "1"})
    os.environ.pop("COURSE_GRADING", None)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _static_row(sub: Submission, status: str, reason: str, max_score: float) -> dict:
    return {"row": {"student_id": sub.student, "notebook": sub.notebook, "score": 0.0,
                    "max_score": max_score, "status": status, "reason": reason}, "problems": []}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name) or "_"


def _result_path(out_dir: Path, sub: Submission) -> Path:
    return out_dir / "results" / _safe(sub.student) / f"{_safe(sub.notebook)}.json"


def _load_result(out_dir, sub, key):
    path = _result_path(out_dir, sub)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved["result"] if saved.get("key") == key and saved["result"]["row"]["status"] != "error" else None


def _save_result(out_dir, sub, key, result):
    write_atomically(_result_path(out_dir, sub), json.dumps({"key": key, "result": result}, indent=1))


def write_grades_csv(path: Path, rows: list[dict]):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(Path(path), buffer.getvalue())


def summary_table(rows: list[dict]) -> str:
    """A plain-text table of the rows, then the count per status."""
    headers = ["student_id", "notebook", "score", "status", "reason"]
    lines = [[str(r["student_id"]), r["notebook"], f"{float(r['score']):g} / {float(r['max_score']):g}",
              r["status"], (r["reason"] or "")[:70]] for r in rows]
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(l, widths)) for l in lines]
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    out.append("")
    out.append(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return "\n".join(out)
