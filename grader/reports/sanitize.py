"""Sanitizing text a student controls (folder names, outputs, messages) for where it goes: a
terminal (control characters and ANSI escape sequences escaped), a spreadsheet (OWASP's "CSV
injection", a.k.a. formula injection: no cell a spreadsheet would evaluate), a page (HTML-escaped:
``feedback_html``)."""
from __future__ import annotations

import re
import unicodedata

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")   # what OWASP lists as starting a formula


def escape_char(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code <= 0xFF else (f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")


def is_control(c: str) -> bool:
    """Control, format (e.g. right-to-left override), surrogate, private-use or unassigned."""
    return unicodedata.category(c).startswith("C")


def escape_controls(text, keep: str = "") -> str:
    """``text`` with ANSI sequences removed and other control characters shown as ``\\xNN``
    (except those in ``keep``, e.g. ``"\\n\\t"`` for multi-line text)."""
    text = ANSI.sub("", str(text))
    return "".join(c if c in keep or not is_control(c) else escape_char(c) for c in text)


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text (the formula-injection defence): control characters
    escaped, and a leading ``= + - @`` (or tab/newline) prefixed with ``'`` so it is never
    evaluated as a formula. Numbers stay numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = escape_controls("" if value is None else value)
    return "'" + text if text.startswith(FORMULA_START) else text


def shown_name(name) -> str:
    """A file or lesson name as it may be shown: lesson ids are plain ASCII, so every other
    character (a control or escape character, an invisible one, a letter of another script that
    looks like a Latin one) is shown as ``\\xNN`` / ``\\uNNNN``. Nothing is removed: an escape
    sequence that ``escape_controls`` would strip could make ``lesson1\\x1b[0m`` read ``lesson1``."""
    return "".join(c if " " <= c <= "~" else escape_char(c) for c in str(name))


def shown_reason(reason, name) -> str:
    """``reason`` with each mention of the file or lesson ``name`` shown as ``shown_name`` does."""
    reason = "" if reason is None else str(reason)
    shown = shown_name(name)
    return reason.replace(str(name), shown) if name and shown != name else reason
