"""The feedback page: self-contained, inert HTML built here, never the student's own markup.

What the page says is written for the student: the lesson and exercises named as the notebook
names them (``lesson_title``, ``exercise_titles``: the headings of the nbgrader source notebook),
what happened in plain words (``summary``) rather than status codes, and the grader's verdict on
each exercise where its test cell stands.

Everything the student controls is shown as escaped text: code cells, printed output, tracebacks
and every display's ``text/plain`` form (``text/html``, JavaScript, SVG, LaTeX renderings are
never used). Markdown, the student's cells and the grader's messages alike, is rendered with
raw HTML off (``<script>``, ``<img onerror>`` and the like show as text) and without links or
images, so nothing on the page points anywhere: the only links are the grader's own, within the page
(the summary's links to each exercise's cell, and "Top" back to it); a message's `code` becomes
``<code>``, everything else in it is escaped. Maths (``$...$``, ``$$...$$``) becomes MathML here
(``grader.reports.maths``: cleaned, no script needed). The one picture shown is a PNG or JPEG whose
bytes decode and start with the right signature: an ``<img>`` tag written here, with a ``data:``
URL re-encoded here (the checker's figure of a verdict, ``figure``, is one). No
script, font or style is loaded from anywhere, and a Content-Security-Policy meta tag forbids
scripts, forms, frames and every remote load even if something slipped through.
"""
from __future__ import annotations

import base64
import binascii
import html
import re
from pathlib import Path

import nbformat
from markdown_it import MarkdownIt

from course_utils.checking import ANSWER_MIME, get_problem
from course_utils.checking.nbgrader_cells import grade_id_of, is_test_cell
from grader.reports import maths
from grader.reports.sanitize import escape_controls, shown_name, shown_reason
from grader.course_release.release import SOURCE_DIR, short_title
from grader.pipeline.results import STOPPED, Status, TestStatus

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
IMAGE_SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
RESULT_CLASS = {TestStatus.CORRECT: "ok", TestStatus.INCORRECT: "bad"}
STYLE = """body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:58em;
margin:1.5em auto;padding:0 1em}h1{font-size:1.6em;margin:0}.who{color:#555;margin:.2em 0 1em}
h2.nb{border-top:1px solid #ddd;
padding-top:.8em;margin-top:1.5em;font-size:1.25em}.md h1{font-size:1.45em}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:.9em}
code{background:#f1f3f4;padding:0 .25em;border-radius:3px}pre code{background:none;padding:0}
pre{white-space:pre-wrap;word-wrap:break-word;background:#f7f7f7;padding:8px;margin:4px 0;border-radius:4px}
.summary{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:1em 0;background:#fafafa}
.score{font-size:1.3em;font-weight:600}.summary.warn{border-color:#e0a800;background:#fff8e1}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f4f4f4}td.pts{white-space:nowrap;text-align:right}.ok{color:#1e7e34}.bad{color:#b3261e}
.none{color:#666}.name{color:#777;font-size:.85em}
.cells{margin-left:3.6em}.cell{position:relative;border-left:3px solid #ddd;padding:2px 0 2px 10px;margin:12px 0}
.cell.md{border-color:#fff}.num{position:absolute;left:-5.6em;width:4.6em;text-align:right;top:.7em;color:#999;
font-size:.75em}
.err{background:#fdecea}.stderr{background:#fff5e6}img{max-width:100%}
.verdict{border-left:4px solid #888;background:#f7f7f7;padding:6px 10px;margin:6px 0;border-radius:0 4px 4px 0}
.verdict.ok{border-color:#1e7e34;background:#e6f4ea;color:#222}.verdict.bad{border-color:#b3261e;
background:#fce8e6;color:#222}.halt{border:2px solid #e0a800;background:#fff8e1;padding:6px 10px;margin:6px 0}
.top{font-size:.85em;float:right}.scroll{overflow-x:auto}a{color:#0b57d0}math{font-size:1.1em}
.mblock{display:block;overflow-x:auto;overflow-y:hidden;max-width:100%}pre,code{overflow-wrap:anywhere}
@media (max-width:600px){body{padding:0 .6em;font-size:15px}.cells{margin-left:0}
.num{position:static;display:block;text-align:left;width:auto}.cell{padding-left:6px}
td,th{padding:3px 5px}.md table{display:block;overflow-x:auto}}"""

_MARKDOWN = (MarkdownIt("commonmark", {"html": False}).enable("table")
             .disable(["image", "link", "autolink", "reference", "html_block", "html_inline"]))
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_EXERCISE = re.compile(r"^(exercise|puzzle|problem|question)\b", re.IGNORECASE)
_CODE = re.compile(r"`([^`\n]+)`")


def text(value, keep: str = "\n\t") -> str:
    """Escaped, printable text (ANSI sequences and control characters neutralised)."""
    value = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else str(value)
    return html.escape(escape_controls(value, keep=keep), quote=True)


def inline_markdown(message) -> str:
    """A one-paragraph message as HTML: `code` as ``<code>``, line breaks kept, all else escaped."""
    return _CODE.sub(r"<code>\1</code>", text(message)).replace("\n", "<br>")


def markdown(source) -> str:
    """A Markdown cell as HTML: raw HTML shown as text, no links or images, maths as MathML."""
    return maths.with_maths(escape_controls(source if isinstance(source, str) else "".join(source), keep="\n\t"),
                            _MARKDOWN.render)


def headings(lesson: str, source_dir: Path = SOURCE_DIR) -> tuple[str | None, dict[str, str]]:
    """``(the lesson's title, {test cell grade_id: its exercise's title})`` as the source notebook
    ``source_dir/<lesson>/<lesson>.ipynb`` writes them (Markdown, e.g. "Exercise 3: encode, then
    decode"): the first ``#`` heading, and for each test cell the last heading before it that
    starts with Exercise, Puzzle, Problem or Question. ``(None, {})`` without a source notebook."""
    path = Path(source_dir) / str(lesson) / f"{lesson}.ipynb"
    if not str(lesson).isidentifier() or not path.is_file():  # e.g. the name of a file that is no lesson
        return None, {}
    title, pending, titles = None, None, {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                match = _HEADING.match(line)
                if match and title is None and line.startswith("# "):
                    title = match.group(1)
                elif match and _EXERCISE.match(match.group(1)):
                    pending = match.group(1)
        if is_test_cell(cell) and grade_id_of(cell) and pending:
            titles[grade_id_of(cell)], pending = pending, None
    return title, titles


def lesson_title(lesson: str, source_dir: Path = SOURCE_DIR) -> str:
    """"Lesson 1 — Tokenization and encoding" (the notebook's title), else "Lesson 1"."""
    return headings(lesson, source_dir)[0] or short_title(str(lesson))


def exercise_titles(lesson: str, source_dir: Path = SOURCE_DIR) -> dict[str, str]:
    """``{test cell grade_id: "Exercise 3: encode, then decode"}`` (Markdown, as the notebook has it)."""
    return headings(lesson, source_dir)[1]


def declared_name(problem_id: str) -> str:
    """The name the notebook's cells use for an exercise (``q3``, ``q2.a``): its declaration's
    ``name`` (``course_utils.checking.get_problem``), else the last part of its id."""
    try:
        return get_problem(problem_id).name
    except Exception:  # noqa: BLE001 - no such exercise (or lesson): the page still needs a name
        return problem_id.split(".", 1)[1] if "." in problem_id else problem_id


def exercise_name(problem: dict, titles: dict) -> str:
    """The exercise as HTML: its title from the notebook, and the name its cells use (``q3``)."""
    name = declared_name(str(problem.get("problem", "")))
    title = titles.get(problem.get("grade_id"))
    if title is None:
        return f"Exercise <code>{text(name)}</code>"
    shown = inline_markdown(title)
    return shown if f"`{name}`" in title else f'{shown} <span class="name">(<code>{text(name)}</code>)</span>'


def stopped_cell(cells: list | None) -> int | None:
    """The index of the cell that was running when a run was stopped: the last code cell the
    kernel started (nbclient numbers a cell when the kernel starts it), or None."""
    started = [i for i, c in enumerate(cells or []) if c.get("cell_type") == "code" and c.get("execution_count")]
    return started[-1] if started else None


def summary(row: dict, problems: list[dict], stopped_at: int | None = None) -> str:
    """What happened, in plain words (HTML); ``stopped_at``: the index of the cell a stopped run
    was in, shown as its number on the page ("cell 27")."""
    status, reason = str(row.get("status", "")), row.get("reason") or ""
    notebook = str(row.get("notebook", ""))
    lesson, file = text(short_title(shown_name(notebook))), text(f"{shown_name(notebook)}.ipynb")
    reason = shown_reason(reason, notebook)
    where = f" at cell {stopped_at + 1}" if stopped_at is not None else ""
    reached = sum(1 for p in problems if p.get("reached", True))
    counted = ("" if not problems else f" It had reached all {reached} exercises by then: all were graded."
               if reached == len(problems) else f" It had reached {reached} of the {len(problems)} exercises by "
               f"then: those were graded, the others count 0.")
    said = {
        Status.GRADED: "Your notebook ran from start to end, and every exercise was graded.",
        Status.TIMEOUT: f"Your notebook ran past its time limit, so the grader stopped it{where}.{counted} "
                   "Look for a loop that never ends, or work that takes much longer than it should.",
        Status.OOM: f"Your notebook used more memory than the grader allows, so the grader stopped it{where}."
               f"{counted} Look for something that grows without bound, such as a list filled in a loop.",
        Status.CRASH: f"Your notebook stopped unexpectedly{where}: its Python process crashed, exited, or started "
                 f"too many processes or files, so the grader could not go on.{counted}",
        Status.INVALID: "The grader could not read this file as a notebook, so nothing in it was graded. Submit "
                   "the <code>.ipynb</code> file that Jupyter saves, under its original name.",
        Status.WRONG_LESSON: f"This file holds the exercises of another lesson, not those of {lesson}, so nothing in "
                        f"it was graded. Check that you submitted the right notebook under the right name "
                        f"(<code>{file}</code>).",
        Status.MISSING: f"No notebook was submitted for {lesson} (<code>{file}</code>).",
        Status.ERROR: "The grader itself failed on your notebook. This is not your fault and no points were taken "
                 "for it: your teacher will grade it again.",
    }.get(status, f"The grader reports: {text(status)}.")
    label = "Note" if status == Status.GRADED else "Details"
    return f"<p>{said}</p>" + (f"<p>{label}: {inline_markdown(reason)}</p>" if reason else "")


def image(mime: str, data) -> str | None:
    """An ``<img>`` for real PNG/JPEG bytes (re-encoded here), else ``None``."""
    if not isinstance(data, str):
        return None
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(IMAGE_SIGNATURES[mime]):
        return None
    return f'<img alt="figure" src="data:{mime};base64,{base64.b64encode(raw).decode("ascii")}">'


def output_html(output) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        css = "stderr" if output.get("name") == "stderr" else "stdout"
        return f'<pre class="{css}">{text(output.get("text", ""))}</pre>'
    if kind == "error":
        trace = "\n".join(str(line) for line in output.get("traceback") or [])
        return f'<pre class="err">{text(trace or (str(output.get("ename")) + ": " + str(output.get("evalue"))))}</pre>'
    data = output.get("data") if kind in ("display_data", "execute_result") else None
    if not isinstance(data, dict) or ANSWER_MIME in data:
        return ""
    for mime in IMAGE_SIGNATURES:
        if mime in data and (tag := image(mime, data[mime])) is not None:
            return tag
    if "text/plain" in data:
        return f"<pre>{text(data['text/plain'])}</pre>"
    return f"<pre>{text('[an output of type ' + ', '.join(sorted(map(str, data))) + ' is not shown]')}</pre>"


def verdict_html(p: dict, titles: dict | None = None) -> str:
    """The grader's verdict on one exercise, as the notebook shows a check: "Incorrect: ..."."""
    css = RESULT_CLASS.get(p["status"], "none")
    message = f": {inline_markdown(p['message'])}" if p.get("message") else ""
    figure = image("image/png", p.get("figure")) or ""   # the checker's picture (re-encoded, or none)
    return (f'<div class="verdict {css}"><a class="top" href="#top">Top</a><b>{exercise_name(p, titles or {})}</b> — '
            f"{p['score']:g} / {p['max_score']:g} points<br>"
            f'<b class="{css}">{text(p["status"])}</b>{message}{"<br>" + figure if figure else ""}</div>')


def _summary_table(problems: list[dict], titles: dict, verdicts: dict | None) -> str:
    """The graded cells, each linked to its place on the page (where the verdict stands)."""
    where = {id(p): index for index, p in (verdicts or {}).items()}
    rows = []
    for p in problems:
        name = exercise_name(p, titles)
        index = where.get(id(p))
        shown = f'<a href="#cell-{index + 1}">{name}</a>' if index is not None else name
        rows.append(f"<tr><td>{shown}</td>"
                    f'<td class="pts">{p["score"]:g} / {p["max_score"]:g}</td>'
                    f'<td class="{RESULT_CLASS.get(p["status"], "none")}">{text(p["status"])}</td></tr>')
    return ('<div class="scroll"><table><tr><th>graded cell</th><th>points</th><th>result</th></tr>'
            + "".join(rows) + "</table></div>")


def page(row: dict, problems: list[dict], cells: list | None = None, verdicts: dict | None = None,
         stopped_at: int | None = None, source_dir: Path = SOURCE_DIR) -> str:
    """The whole page: what happened and the score, the table of exercises, then the cells
    (``verdicts``: ``{cell index: problem}`` for the test cells, whose outputs the verdict
    replaces; ``stopped_at``: the cell a stopped run was in, else found from the cells)."""
    status, lesson = str(row.get("status", "")), str(row.get("notebook", ""))
    if stopped_at is None and status in STOPPED:
        stopped_at = stopped_cell(cells)
    _, titles = headings(lesson, source_dir)
    heading = lesson_title(lesson, source_dir)
    title = f"Feedback: {heading}, {row['student_id']}"
    mood = "warn" if status not in (Status.GRADED, "") else ""
    parts = [f'<h1 id="top">{inline_markdown(heading)}</h1>',
             f'<p class="who">Feedback for <b>{text(row["student_id"])}</b> on '
             f'<code>{text(shown_name(lesson))}</code></p>',
             f'<div class="summary {mood}"><div class="score">Score: {float(row["score"]):g} / '
             f'{float(row["max_score"]):g} points</div>{summary(row, problems, stopped_at)}</div>']
    if problems:
        parts.append(_summary_table(problems, titles, verdicts))
    if cells:
        parts.append('<h2 class="nb">Your notebook, as the grader ran it</h2><div class="cells">')
    for index, cell in enumerate(cells or []):
        number = f'<span class="num">cell {index + 1}</span>'
        if cell.get("cell_type") != "code":
            parts.append(f'<div class="cell md" id="cell-{index + 1}">{number}{markdown(cell.get("source", ""))}</div>')
            continue
        if verdicts and index in verdicts:
            shown = verdict_html(verdicts[index], titles)
        else:
            shown = "".join(output_html(o) for o in cell.get("outputs", []))
        if index == stopped_at:
            shown += ('<div class="halt"><b>The grader stopped your notebook here.</b> The cells below were '
                      "not run.</div>")
        parts.append(f'<div class="cell code" id="cell-{index + 1}">{number}'
                     f'<pre><code>{text(cell.get("source", ""))}</code></pre>{shown}</div>')
    if cells:
        parts.append("</div>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="referrer" content="no-referrer">\n<title>{text(title)}</title>\n'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")
