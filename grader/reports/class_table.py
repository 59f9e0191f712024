"""The class report's opening: the student × lesson table, then the integrity flags.

A cell shows the points (``score / max``), the row's status as ``grades.csv`` writes it, with a
mark that says the same without colour (``MARKS``), and ``⚑`` when the notebook is flagged; it
links to the student's feedback page where one was written (a notebook that was never run, such
as a missing one, has none). Each student's total is over every lesson of the table.
"""
from __future__ import annotations

import html
import re

from grader.pipeline.results import Status
from grader.reports.sanitize import escape_controls, shown_name

STYLE = """.cls td,.cls th{white-space:nowrap}.cls td{text-align:center}.cls td.total{text-align:right}
.st{display:block;font-size:.8em;color:#444}.ok{background:#e8f5e9}.part{background:#fffde7}
.bad{background:#ffebee}.none{background:#f5f5f5}.flag{font-weight:700}a{color:#0b57d0}
.cls th:first-child{position:sticky;left:0;background:#fff}nav{margin:.5em 0 1em;line-height:1.9}"""
# A mark per status that does not rely on colour (the cell's colour only repeats it).
MARKS = {Status.GRADED: "✓", Status.TIMEOUT: "◐", Status.OOM: "◐", Status.CRASH: "◐", Status.MISSING: "–",
         Status.INVALID: "✗", Status.WRONG_LESSON: "✗", Status.ERROR: "!"}
SHADES = {Status.GRADED: "ok", Status.TIMEOUT: "part", Status.OOM: "part", Status.CRASH: "part",
          Status.MISSING: "none", Status.ERROR: "none"}
FLAG = "⚑"
_CODE = re.compile(r"`([^`\n]+)`")   # `code` in a reason, shown as code


def text(value) -> str:
    return html.escape(escape_controls(value, "\n"))


def reason_html(reason: str) -> str:
    return _CODE.sub(r"<code>\1</code>", text(reason))


def anchor(student: str, lesson: str) -> str:
    """The id of a notebook's line in the integrity section (letters, digits and ``-`` only)."""
    return "flag-" + "-".join(f"{ord(c):x}" if not c.isascii() or not c.isalnum() else c
                              for c in f"{student}.{lesson}")


def _cell(student: str, lesson: str, cell) -> str:
    if cell is None:
        return '<td class="none">—</td>'
    row, status = cell.row, str(cell.row["status"])
    points = f'{float(row["score"] or 0):g} / {float(row["max_score"] or 0):g}'
    shown = f'<a href="{html.escape(cell.link)}">{points}</a>' if cell.link else points
    flag = (f' <a class="flag" href="#{anchor(student, lesson)}" title="flagged: see Integrity">{FLAG}</a>'
            if cell.flags else "")
    mark = MARKS.get(status, "?")
    return (f'<td class="{SHADES.get(status, "bad")}">{shown}{flag}'
            f'<span class="st">{mark} {text(status)}</span></td>')


def table(report) -> str:
    """The student × lesson table of a ``report.ClassReport``, with a legend of the marks."""
    lessons = list(report.lessons)
    head = "".join(f'<th><a href="#lesson-{text(name)}">{text(shown_name(name))}</a></th>' for name in lessons)
    rows = []
    for student in sorted(report.cells):
        cells = report.cells[student]
        total = sum(float(c.row["score"] or 0) for c in cells.values() if c.row["notebook"] in report.lessons)
        top = sum(report.lessons[name].max_score for name in lessons)
        rows.append(f"<tr><th>{text(student)}</th>" + "".join(_cell(student, name, cells.get(name))
                                                               for name in lessons)
                    + f'<td class="total"><b>{total:g}</b> / {top:g}</td></tr>')
    legend = " · ".join(f"{mark} {text(', '.join(str(s) for s, m in MARKS.items() if m == mark))}"
                        for mark in dict.fromkeys(MARKS.values()))
    return ('<h2 id="class">The class</h2><p>Each cell: points, then the status as <code>grades.csv</code> '
            f"writes it ({legend}; {FLAG} flagged, see Integrity). A cell's points link to its feedback "
            "page.</p>"
            f'<div class="scroll"><table class="cls"><tr><th>student</th>{head}<th>total</th></tr>'
            + "".join(rows) + "</table></div>")


def integrity(report) -> str:
    """Every notebook flagged for how it was made: zeroed (tampering, an answer collected under a
    hook, the course's reference used) or noted (an edited locked cell, a note for review)."""
    items = []
    for student in sorted(report.cells):
        for lesson, cell in report.cells[student].items():
            if not cell.flags:
                continue
            page = (f' · <a href="{html.escape(cell.link)}">feedback page</a>' if cell.link else "")
            kinds = "".join(f"<li><b>{'zeroed' if f.zeroes else 'noted'}: {text(f.kind)}</b>: "
                            f"{reason_html(f.reason)}</li>"
                            for f in cell.flags)
            items.append(f'<li id="{anchor(student, lesson)}"><b>{text(student)}</b>, '
                         f"{text(shown_name(lesson))} ({float(cell.row['score'] or 0):g} / "
                         f"{float(cell.row['max_score'] or 0):g}){page}<ul>{kinds}</ul></li>")
    body = "<ul>" + "".join(items) + "</ul>" if items else "<p>No notebook was flagged.</p>"
    return ('<section id="integrity"><h2>Integrity</h2><p>Notebooks the grader zeroed or noted for how they were '
            "made. A test zeroed for it is counted apart (<i>zeroed (integrity)</i>), never as the "
            "student's mistake.</p>" + body + "</section>")
