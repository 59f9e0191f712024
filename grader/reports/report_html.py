"""``OUT/report.html``: the class report as one self-contained page.

Like the feedback pages (``grader.reports.feedback_html``): no script, nothing loaded from anywhere (the
plots are inline PNGs, the style is in the page), a Content-Security-Policy that forbids the rest,
every text escaped; it reads on a phone (one column, tables that scroll sideways).
"""
from __future__ import annotations

import base64
import html
import io
import re

from grader.reports import class_table
from grader.reports.feedback_html import CSP
from grader.reports.sanitize import escape_controls
from grader.pipeline.results import NO_RESULT, TestStatus

STYLE = """body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:60em;
margin:0 auto;padding:0 1em 3em}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:2px solid #ddd}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;
padding:.2em .5em;text-align:left;vertical-align:top}img{max-width:100%;height:auto}
code{background:#f3f3f3;padding:0 .2em}.ids{font-size:.85em;color:#555;word-break:break-word}
""" + class_table.STYLE
ZEROED = "zeroed (integrity)"   # report.ZEROED (report imports this module)
COLUMNS = (*TestStatus, ZEROED, NO_RESULT)
COLOURS = {TestStatus.CORRECT: "#2e7d32", TestStatus.INCORRECT: "#c62828", TestStatus.NOT_ATTEMPTED: "#9e9e9e",
           TestStatus.NOT_RUN: "#f9a825", ZEROED: "#6a1b9a", NO_RESULT: "#5c6bc0"}


_CODE = re.compile(r"`([^`\n]+)`")   # `code` in a mistake's message, shown as code (as the verdicts do)


def text(value) -> str:
    return html.escape(escape_controls(value, "\n"))


def import_plotting():
    """Import matplotlib (Agg) now: 0.3 s that the report would otherwise add after the batch's last
    notebook. ``autograde`` calls it in a thread while its kernel template starts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import matplotlib.ticker  # noqa: F401


def _png(figure, alt: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{text(alt)}" src="data:image/png;base64,{data}">'


def _plots(lesson) -> str:
    """Two plots, one under the other (a phone shows each at full width): the submitted notebooks'
    scores, and per exercise a bar of how many of them got each status; each title says of how many."""
    import_plotting()
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    top, n = max(lesson.max_score, 1.0), len(lesson.scores)
    figure, scores = plt.subplots(figsize=(6, 2.6))
    scores.hist(lesson.scores, bins=int(round(top)) + 1, range=(-0.5, top + 0.5), color="#1565c0", rwidth=0.85)
    scores.set(title=f"{lesson.name}: scores of the {n} submitted notebook{'s' * (n != 1)}",
               xlabel=f"points (of {lesson.max_score:g})", ylabel="notebooks")
    scores.yaxis.set_major_locator(MaxNLocator(integer=True))
    parts = [_png(figure, f"{lesson.name}: histogram of the scores of the {n} submitted notebooks")]
    names = list(lesson.exercises)
    figure, shares = plt.subplots(figsize=(6, 0.6 + 0.35 * len(names)))
    left = [0] * len(names)
    for status in COLUMNS[:-1]:   # the tests of the submitted notebooks: "no result" rows are no test's
        counts = [len(lesson.exercises[name].statuses.get(status, ())) for name in names]
        if any(counts):
            shares.barh(names, counts, left=left, color=COLOURS[status], label=status)
            left = [a + b for a, b in zip(left, counts)]
    shares.invert_yaxis()
    shares.xaxis.set_major_locator(MaxNLocator(integer=True))
    shares.set(title=f"{lesson.name}: each exercise, of the {n} submitted", xlabel="notebooks")
    shares.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25 - 1.2 / (1 + len(names))))
    parts.append(_png(figure, f"{lesson.name}: each exercise's outcomes in the {n} submitted notebooks"))
    return "<br>".join(parts)


def _exercise_table(lesson) -> str:
    """Per exercise, of the submitted notebooks: how many got each status, and the mean points."""
    shown = COLUMNS[:-1] + (("no signed result",) if lesson.unverified else ())
    head = "".join(f"<th>{text(s)}</th>" for s in shown)
    rows = []
    for exercise in lesson.exercises.values():
        counts = [len(exercise.statuses.get(s, ())) for s in COLUMNS[:-1]]
        if lesson.unverified:
            counts.append(len(set(exercise.statuses.get(NO_RESULT, ())) & set(lesson.unverified)))
        cells = "".join(f"<td>{n}</td>" for n in counts)
        mean = sum(exercise.scores) / len(exercise.scores) if exercise.scores else 0.0
        rows.append(f"<tr><th>{text(exercise.grade_id)}</th>{cells}<td>{mean:.2f} / {exercise.max_score:g} "
                    f"(of {len(exercise.scores)})</td></tr>")
    return (f'<div class="scroll"><table><tr><th>exercise</th>{head}<th>mean points (of the notebooks '
            f'with a result)</th></tr>' + "".join(rows) + "</table></div>")


def _counts(lesson) -> str:
    """What the lesson's numbers count: submitted, missing and not gradable apart, and the mean."""
    n = lesson.submitted
    mean = f"; mean {sum(lesson.scores) / n:.2f} / {lesson.max_score:g} points over those {n}" if n else ""
    return (f"<p><b>{n}</b> submitted (ran: the figures and means below count these only), "
            f"<b>{lesson.missing}</b> missing, <b>{lesson.not_gradable}</b> not gradable{mean}.</p>")


def _mistake_message(mistake_id: str) -> str:
    """The message the students saw for a named mistake (when it does not depend on the test)."""
    try:
        from course_utils.checking.mistakes import MISTAKE
        from course_utils.checking.registry import get_problem

        problem_id, name = mistake_id.rsplit(":", 1)
        message = getattr(getattr(type(get_problem(problem_id)), name), MISTAKE)
        return message if isinstance(message, str) else ""
    except Exception:  # noqa: BLE001 - the id alone still says which mistake
        return ""


def _mistakes(lesson) -> str:
    """Per exercise: its named mistakes, most made first, with who made them; its hidden tests
    failed most."""
    groups = []
    for exercise in lesson.exercises.values():
        items = []
        answered = len(exercise.scores) - sum(len(exercise.statuses.get(s, ())) for s in (TestStatus.NOT_ATTEMPTED,
                                                                                          ZEROED))
        for mistake, students in sorted(exercise.mistakes.items(), key=lambda item: (-len(item[1]), item[0])):
            share = f" ({100 * len(students) / answered:.0f}% of those who answered)" if answered else ""
            message = _mistake_message(mistake)
            items.append(f"<li><b>{len(students)}</b>{share} <code>{text(mistake)}</code>"
                         + ("<br>" + _CODE.sub(r"<code>\1</code>", text(message)) if message else "")
                         + f'<br><span class="ids">{text(", ".join(sorted(students)))}</span></li>')
        hidden = ", ".join(f"{text(label)} ({count})" for label, count in exercise.hidden_failed.most_common(3))
        if hidden:
            items.append(f"<li>hidden tests failed most: {hidden}</li>")
        if items:
            groups.append(f"<li><b>{text(exercise.grade_id)}</b><ul>{''.join(items)}</ul></li>")
    return "<ul>" + "".join(groups) + "</ul>" if groups else "<p>No mistakes recorded.</p>"


def _statuses(lesson) -> str:
    items = []
    for status, entries in sorted(lesson.statuses.items()):
        if status == "graded":
            continue
        detail = "".join(f"<li>{text(s)}: {text(reason)}</li>" for s, reason in sorted(entries))
        items.append(f"<li><b>{text(status)}</b>: {len(entries)}<ul>{detail}</ul></li>")
    return "<ul>" + "".join(items) + "</ul>" if items else "<p>Every notebook ran to the end.</p>"


def _unverified(lesson) -> str:
    if not lesson.unverified:
        return ""
    return (f"<p><b>{len(lesson.unverified)} notebook(s) left out of the exercise counts</b>: they ran, but no "
            f"result signed by this grader's key matches their row of grades.csv (graded elsewhere, or "
            f"edited): {text(', '.join(sorted(lesson.unverified)))}. Grade them again here to count them.</p>")


def page(report) -> str:
    """The whole page for a ``report.ClassReport``: the class table, the integrity flags, then
    each lesson."""
    lessons = report.lessons
    parts = ['<h1 id="top">Class report</h1>',
             '<nav><a href="#class">The class</a> · <a href="#integrity">Integrity</a> · '
             + " · ".join(f'<a href="#lesson-{text(name)}">{text(name)}</a>' for name in lessons) + "</nav>",
             class_table.table(report), class_table.integrity(report)]
    for lesson in lessons.values():
        parts += [f'<h2 id="lesson-{text(lesson.name)}">{text(lesson.name)}</h2>', _counts(lesson),
                  _unverified(lesson), _plots(lesson) if lesson.exercises else "", _exercise_table(lesson),
                  "<h3>Mistakes named</h3>", _mistakes(lesson),
                  "<h3>Notebooks not graded to the end: missing, not gradable, or stopped</h3>",
                  _statuses(lesson)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="referrer" content="no-referrer">\n<title>Class report</title>\n'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")
