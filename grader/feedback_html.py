"""The feedback page: self-contained, inert HTML built here, never the student's own markup.

Everything the student controls is shown as escaped text: cell sources (Markdown too: a
``<script>`` or a fake ``<form>`` in a Markdown cell is shown, not run), printed output,
tracebacks, and every display's ``text/plain`` form (``text/html``, JavaScript, SVG, LaTeX
renderings are never used). The one exception is a picture: a PNG or JPEG whose bytes decode and
start with the right signature becomes an ``<img>`` tag written here, with a ``data:`` URL
re-encoded here. A Content-Security-Policy meta tag forbids scripts, forms, frames and every
remote load even if something slipped through. The test cells show the grader's own verdicts.
"""
from __future__ import annotations

import base64
import binascii
import html

from course_utils.checking import ANSWER_MIME
from grader.inert import printable

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
IMAGE_SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
STYLE = """body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}
pre{white-space:pre-wrap;word-wrap:break-word;background:#f7f7f7;padding:6px;margin:4px 0}
.cell{border-left:3px solid #ddd;padding-left:8px;margin:10px 0}.md pre{background:#fff}
.err{background:#fdecea}.stderr{background:#fff5e6}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px}img{max-width:100%}"""


def text(value, keep: str = "\n\t") -> str:
    """Escaped, printable text (ANSI sequences and control characters neutralised)."""
    return html.escape(printable(value if isinstance(value, str) else "".join(value) if isinstance(value, list)
                                 else str(value), keep=keep), quote=True)


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


def verdict_html(p: dict) -> str:
    colour = {"Correct": "#e6f4ea", "Incorrect": "#fce8e6"}.get(p["status"], "#f1f3f4")
    return (f'<div style="background:{colour};padding:6px;border-radius:4px">'
            f"<b>{text(p['problem'])}: {p['score']:g} / {p['max_score']:g} — {text(p['status'])}</b>"
            f"<br>{text(p['message'])}</div>")


def page(row: dict, problems: list[dict], cells: list | None = None, verdicts: dict | None = None) -> str:
    """The whole page: score and notes, the table of tests, then the cells (``verdicts``:
    ``{cell index: problem}`` for the test cells, whose outputs the verdict replaces)."""
    title = f"Feedback: {row['notebook']}, {row['student_id']}"
    parts = [f"<h1>{text(title)}</h1>",
             f"<p><b>Score: {float(row['score']):g} / {float(row['max_score']):g}</b> — status "
             f"<code>{text(row['status'])}</code>.</p>"]
    if row.get("reason"):
        parts.append(f"<p>Grader's note: {text(row['reason'])}</p>")
    if problems:
        parts.append("<table><tr><th>test</th><th>points</th><th>result</th></tr>" + "".join(
            f"<tr><td><code>{text(p['problem'])}</code></td><td>{p['score']:g} / {p['max_score']:g}</td>"
            f"<td>{text(p['status'])}</td></tr>" for p in problems) + "</table>")
    for index, cell in enumerate(cells or []):
        source = f"<pre>{text(cell.get('source', ''))}</pre>"
        if cell.get("cell_type") != "code":
            parts.append(f'<div class="cell md">{source}</div>')
            continue
        if verdicts and index in verdicts:
            shown = verdict_html(verdicts[index])
        else:
            shown = "".join(output_html(o) for o in cell.get("outputs", []))
        parts.append(f'<div class="cell code">{source}{shown}</div>')
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="referrer" content="no-referrer">\n<title>{text(title)}</title>\n'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")
