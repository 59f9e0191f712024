"""``python -m grader`` (or ``course-grader``): release, autograde, report, export, student-package, demo."""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from grader.reports import grades_csv
from grader import options
from grader.course_release.release import NOTEBOOKS_DIR

SAMPLES_DIR = Path(__file__).resolve().parent / "samples" / "submissions"
EXAMPLES = """examples:
  python -m grader demo                                    the whole flow on the sample class (out/demo)
  python -m grader release                                 the student notebooks, from the sources
  python -m grader autograde SUBMISSIONS --out OUT         grade; OUT/grades.csv, feedback/, report.html
  python -m grader autograde SUBMISSIONS --out OUT --lessons lesson1 lesson2 --workers 4
  python -m grader autograde SUBMISSIONS --out OUT --local-cluster 4
  python -m grader report OUT                              write OUT/report.html again
  python -m grader export OUT --format canvas --missing blank"""
# Third-party lines that tell a teacher nothing (urllib3, imported on the way by matplotlib's
# style files and by Dask, warns that an optional SOCKS package is missing): also in the workers.
QUIET = ("ignore:SOCKS support in urllib3",)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="generate the student notebooks from the nbgrader sources")
    release.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    release.add_argument("--out", type=Path, default=NOTEBOOKS_DIR, help="folder for the student notebooks")
    release.add_argument("--check", action="store_true",
                         help="write nothing; exit 1 if the student notebooks are out of date")
    release.add_argument("--pip-source", default=None,
                         help="what the notebooks' first cell installs the course from: a package name, a git "
                              "URL (git+https://...) or a wheel's URL (default: decoding-course; with --repo: "
                              "git+REPO@BRANCH)")
    release.add_argument("--repo", default=None,
                         help="the GitHub repository the notebooks are published in (https://github.com/OWNER/"
                              "REPO): adds Open in Colab / Open in Kaggle links to each lesson and OUT/README.md")
    release.add_argument("--branch", default="main", help="the branch the links point to (default: main)")

    grade = commands.add_parser("autograde", help="grade a folder of submissions", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = _groups(grade)
    groups["input"].add_argument("submissions", type=Path,
                                 help="<student>/<lesson>.ipynb, or nbgrader's submitted/ layout")
    groups["output"].add_argument("--out", type=Path, required=True,
                                  help="folder for grades.csv, feedback/, report.html and exercise_scores.csv")
    _grading_options(groups)

    export = commands.add_parser("export", help="grades.csv as a Canvas, Moodle or wide gradebook CSV, "
                                                "or as nbgrader's gradebook.db")
    export.add_argument("out", type=Path, help="the --out folder of an autograde run")
    export.add_argument("--format", choices=["canvas", "moodle", "wide", "nbgrader"], default="canvas",
                        help="canvas, moodle, wide: a CSV; nbgrader: nbgrader's gradebook (SQLite) with a "
                             "score per test cell, for `nbgrader export` and formgrader (default: canvas)")
    export.add_argument("--missing", choices=["zero", "blank"], default="zero",
                        help="a lesson not submitted: 0 points or an empty cell (default: zero)")
    export.add_argument("--invalid", choices=["zero", "blank"], default="zero",
                        help="a submission that is not a gradable notebook (default: zero)")
    export.add_argument("--lessons", nargs="*", default=None,
                        help="the lessons to export as columns (default: those of the autograde run, "
                             "OUT/lessons.json); rows of any other file are left out")
    export.add_argument("--dest", type=Path, default=None,
                        help="file to write (default: OUT/export-FORMAT.csv; for nbgrader OUT/gradebook.db, "
                             "updated if it exists)")

    wheel = commands.add_parser("student-package",
                                help="the wheel to hand out for a graded class: no solutions, no hidden tests")
    wheel.add_argument("--out", type=Path, default=Path("dist"), help="folder for the wheel (default: dist)")

    report = commands.add_parser("report", help="the class report of a graded batch: OUT/report.html and "
                                                "OUT/report.csv (also written by every autograde)")
    report.add_argument("out", type=Path, help="the --out folder of an autograde run")

    demo = commands.add_parser("demo", help="the whole instructor flow on the sample submissions", epilog=EXAMPLES,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = _groups(demo)
    groups["output"].add_argument("--out", type=Path, default=Path("out/demo"),
                                  help="folder for the demo's grades, feedback and report (default: out/demo)")
    _grading_options(groups)
    return parser


def _quiet():
    """Silence ``QUIET`` here and in every process started from here (``PYTHONWARNINGS``)."""
    for rule in QUIET:
        warnings.filterwarnings("ignore", message=rule.split(":", 1)[1])
    listed = [r for r in os.environ.get("PYTHONWARNINGS", "").split(",") if r]
    os.environ["PYTHONWARNINGS"] = ",".join(dict.fromkeys(listed + list(QUIET)))


def main(argv: list[str] | None = None) -> int:
    _quiet()
    args = _parser().parse_args(argv)
    if args.command == "release":
        return _release(args)
    if args.command == "autograde":
        return _autograde(args.submissions, args)
    if args.command == "export":
        return _export(args)
    if args.command == "report":
        return _report(args.out)
    if args.command == "student-package":
        from grader.course_release import student_package

        print(f"wrote {student_package.build(args.out)}")
        return 0
    return _demo(args)


def _export(args) -> int:
    from grader.reports import export as exporting

    try:
        path = exporting.export(args.out, args.format, args.missing, args.invalid, args.dest, args.lessons)
        skipped = exporting.left_out(args.out, args.lessons)
    except (FileNotFoundError, ValueError) as error:
        print(f"export failed: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    if skipped:  # a file a student named as they liked, or a refused folder: never a column
        names = sorted({f"{r['student_id']}/{r['notebook']}" for r in skipped})
        print(f"left out {len(skipped)} row(s) of no lesson of the release: {', '.join(names)[:300]}")
    return 0


def _report(out: Path) -> int:
    from grader.reports import report

    try:
        paths = report.write_report(out)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"report failed: {error}", file=sys.stderr)
        return 2
    print("wrote " + " and ".join(str(p) for p in paths))
    return 0


GROUPS = {"input": "what to grade", "limits": "limits per notebook and per kernel",
          "sandbox": "how kernels are contained", "cluster": "where the notebooks run",
          "output": "what is written and shown"}


def _groups(parser) -> dict:
    """``--help``'s headings for a grading command: ``{name: argument group}``."""
    return {name: parser.add_argument_group(f"{name}: {what}") for name, what in GROUPS.items()}


def _grading_options(groups: dict):
    groups["input"].add_argument("--lessons", nargs="*", default=None,
                                 help="lessons every student should have submitted (default: those found)")
    groups["input"].add_argument("--layout", choices=["auto", "plain", "nbgrader"], default="auto",
                                 help="plain: SUBMISSIONS/<student>/<lesson>.ipynb; nbgrader: SUBMISSIONS/submitted/"
                                      "<student>/<lesson>/<lesson>.ipynb; auto (default): decided by the folder's "
                                      "structure as a whole")
    for declared in options.declared():  # each grading option's flag, from its declaration
        _option_flag(groups[declared.metadata["group"]], declared)
    groups["cluster"].add_argument("--workers", type=int, default=None,
                                   help="parallel kernels on this machine (default: core count)")
    engine = groups["cluster"].add_mutually_exclusive_group()
    engine.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="grade on a Dask cluster: its scheduler's address, e.g. tcp://HOST:8786")
    engine.add_argument("--local-cluster", type=int, default=None, metavar="N",
                        help="grade on a local Dask cluster of N worker processes")
    groups["output"].add_argument("--no-progress", action="store_true",
                                  help="no progress bar (for logs and CI); the summary is printed all the same")


def _option_flag(parser, declared):
    """``--name VALUE`` for one ``GradingOptions`` field (and its switch, e.g. ``--allow-network``),
    type, choices and help from the declaration; unset, it stays ``None`` (the declared default)."""
    help_text, choices, switch = (declared.metadata[key] for key in ("help", "choices", "switch"))
    value_type = {"float": float, "int": int}.get(str(declared.type), str)
    parser.add_argument("--" + declared.name.replace("_", "-"), dest=declared.name, type=value_type,
                        choices=choices, default=None, help=f"{help_text} (default: {declared.default})")
    if switch is not None:
        flag, value = switch
        parser.add_argument(flag, dest=declared.name, action="store_const", const=value,
                            help=f"the same as --{declared.name.replace('_', '-')} {value}")


def grading_options(args) -> options.GradingOptions:
    """The options the command line chose: the declared defaults with the flags given over them."""
    return options.GradingOptions.from_dict({declared.name: getattr(args, declared.name)
                                             for declared in options.declared()
                                             if getattr(args, declared.name, None) is not None})


def _release(args) -> int:
    from grader.course_release import release

    if args.check:
        stale = release.out_of_sync(args.out)
        if stale:
            print(f"out of date: {', '.join(stale)}; run `python -m grader release`", file=sys.stderr)
            return 1
        print("student notebooks are up to date")
        return 0
    from grader.course_release import publish

    publishing = publish.Publishing()   # a plain release
    if args.repo or args.pip_source:
        try:
            source = args.pip_source or publish.default_pip_source(args.repo, args.branch)
            publish.github_repo(args.repo) if args.repo else None
        except ValueError as error:
            print(f"release failed: {error}", file=sys.stderr)
            return 2
        publishing = publish.Publishing(pip_source=source, repo=args.repo, branch=args.branch)
    for path in release.release(args.lessons or None, args.out, publishing):
        print(f"wrote {path}")
    return 0


def _autograde(submissions: Path, args) -> int:
    from grader.pipeline import autograde
    from grader.sandbox import contained
    from grader.pipeline.results import Status

    chosen = grading_options(args)
    print("containment:")
    for layer, what in contained.containment(chosen).items():
        print(f"  {layer:8} {what}")
    started = time.monotonic()
    try:
        with _engine(args) as executor:
            report = autograde.autograde(submissions, args.out, workers=args.workers, options=chosen,
                                         lesson_ids=args.lessons, progress=not args.no_progress,
                                         executor=executor, layout=args.layout)
    except (FileNotFoundError, RuntimeError, OSError, ValueError) as error:
        print(f"grading could not run: {error or type(error).__name__}", file=sys.stderr)
        return 2
    print()
    print(grades_csv.summary_table(report.rows))
    print(f"\nlayout: {report.layout}; lessons: {', '.join(report.lessons) or 'none'}")
    print(f"{report.graded_now} graded now, {report.reused} unchanged since the last run "
          f"(reused), in {time.monotonic() - started:.0f} s")
    print(f"grades:   {args.out / 'grades.csv'} (per exercise: {args.out / 'exercise_scores.csv'})\n"
          f"feedback: {args.out / 'feedback'}/<student>/<lesson>.html\nreport:   {args.out / 'report.html'}")
    errors = [r for r in report.rows if r.status == Status.ERROR]
    if errors:
        print(f"{len(errors)} submission(s) could not be graded because of a grader error: see the reason column",
              file=sys.stderr)
        return 1
    return 0


def _engine(args):
    """The executor the batch runs on: None (the local process pool) or a Dask cluster's."""
    import contextlib

    scheduler, local = getattr(args, "scheduler", None), getattr(args, "local_cluster", None)
    if not scheduler and not local:
        return contextlib.nullcontext(None)
    from grader.pipeline import cluster

    print(f"engine:   {cluster.describe(scheduler, local)}")
    # With --allow-network the cluster must be one a kernel cannot drive (TLS): refused at start-up.
    return cluster.dask_executor(scheduler, local, network=grading_options(args).network)


def _demo(args) -> int:
    from grader.sandbox.environment import OFFLINE

    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
    print("== 1. release: student notebooks from the nbgrader sources ==")
    code = main(["release"])
    if code:
        return code
    print(f"\n== 2. autograde the sample submissions in {SAMPLES_DIR.relative_to(Path.cwd()) if SAMPLES_DIR.is_relative_to(Path.cwd()) else SAMPLES_DIR} ==")
    return _autograde(SAMPLES_DIR, args)
