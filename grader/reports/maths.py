"""Maths in a Markdown cell (``$...$``, ``$$...$$``), rendered on the grader's side as MathML.

The feedback pages run no script (their Content-Security-Policy forbids it), so MathJax is not an
option: ``latex2mathml`` converts each formula here, and browsers draw MathML Core themselves.
Its output is not trusted as it comes (``\\text{<b>}`` passes markup through, ``\\href`` an
attribute): it is parsed and written again with only MathML's presentation elements and the
attributes in ``ATTRIBUTES``, every text escaped. A formula it cannot convert is shown as its
LaTeX, as code.

``with_maths(source, render)``: ``render(markdown)`` (the page's Markdown renderer) applied to
``source`` with each formula kept out of its way and put back as MathML.
"""
from __future__ import annotations

import html
import re
import secrets
from html.parser import HTMLParser

from latex2mathml.converter import convert

ELEMENTS = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac",
            "msqrt", "mroot", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded",
            "mphantom", "menclose", "semantics", "annotation"}
ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
              "accentunder", "movablelimits", "minsize", "maxsize", "columnalign", "rowspacing", "columnspacing",
              "linethickness", "width", "height", "depth", "scriptlevel", "displaystyle", "notation"}
# Code (fenced, then inline) is left as it is; then display maths, then inline maths.
_SPANS = re.compile(r"(?P<code>```.*?```|~~~.*?~~~|`[^`\n]*`)|\$\$(?P<block>.+?)\$\$"
                    r"|(?<![\\$\w])\$(?P<inline>[^\s$](?:[^$\n]*?[^\s$\\])?)\$(?![\w$])", re.DOTALL)


_ESCAPED = re.compile(r"\\([{}_%&#$ ])")
_COMMAND = re.compile(r"\\[A-Za-z]+")


class _Clean(HTMLParser):
    """Writes parsed MathML back with only ``ELEMENTS`` and ``ATTRIBUTES`` (others dropped, their
    text kept, escaped)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ELEMENTS:
            kept = "".join(f' {name}="{html.escape(value or "", quote=True)}"' for name, value in attrs
                           if name in ATTRIBUTES)
            xmlns = ' xmlns="http://www.w3.org/1998/Math/MathML"' if tag == "math" else ""
            self.out.append(f"<{tag}{xmlns}{kept}>")

    def handle_endtag(self, tag):
        if tag in ELEMENTS:
            self.out.append(f"</{tag}>")

    def handle_data(self, data):
        # What latex2mathml leaves as LaTeX: an escaped character (``\_`` in ``\texttt{num\_beams}``,
        # ``\{``) and a command it does not know (``\arg``), shown as the character and the name.
        data = _ESCAPED.sub(r"\1", data)
        data = data[1:] if _COMMAND.fullmatch(data) else data
        self.out.append(html.escape(data, quote=False))


def mathml(latex: str, block: bool) -> str:
    """One formula as clean MathML; its LaTeX as ``<code>`` when it cannot be converted."""
    try:
        converted = convert(latex.strip(), display="block" if block else "inline")
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds on LaTeX it does not know
        return f"<code>{html.escape(latex)}</code>"
    clean = _Clean()
    clean.feed(converted)
    clean.close()
    return "".join(clean.out)


def with_maths(source: str, render) -> str:
    """``render(source)`` with each formula of ``source`` replaced by its MathML (see the module)."""
    nonce, found = secrets.token_hex(6), []

    def hold(match: re.Match) -> str:
        if match.group("code") is not None:
            return match.group("code")
        block = match.group("block") is not None
        shown = mathml(match.group("block") if block else match.group("inline"), block)
        found.append(f'<span class="mblock">{shown}</span>' if block else shown)   # scrolls on its own
        return f"MATH{nonce}N{len(found) - 1}E"

    rendered = render(_SPANS.sub(hold, source))
    return re.sub(rf"MATH{nonce}N(\d+)E", lambda m: found[int(m.group(1))], rendered)
