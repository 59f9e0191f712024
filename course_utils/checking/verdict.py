"""What a check says: a status, an explanation, points, and how to show it."""
from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field

CORRECT, INCORRECT, NOT_ATTEMPTED = "Correct", "Incorrect", "Not attempted"
_CODE = re.compile(r"`([^`\n]+)`")
_COLOURS = {CORRECT: "#2e7d32", INCORRECT: "#c62828", NOT_ATTEMPTED: "#6d6d6d"}


@dataclass
class Verdict:
    """The result of judging one answer.

    ``str(verdict)`` (and the notebook's text/plain output) begins with exactly one of
    ``Correct``, ``Incorrect`` or ``Not attempted``, followed by the explanation.
    """

    status: str
    message: str = ""
    score: float = 0.0
    max_score: float = 1.0
    figure_png: bytes | None = field(default=None, repr=False)
    # For the class report (grader.reports.report): the stable id of the named mistake
    # ("lesson4.q1:never_appends"), and the labels of the tests that failed ("hidden test 3").
    mistake: str | None = None
    failed_tests: tuple[str, ...] | None = None

    @property
    def correct(self) -> bool:
        return self.status == CORRECT

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else self.status

    def __repr__(self) -> str:  # what Jupyter shows as text/plain
        return str(self)

    def _repr_html_(self) -> str:
        colour = _COLOURS[self.status]
        # `code` in a message is shown as code, as Markdown would (the text form keeps the backticks).
        body = _CODE.sub(r"<code>\1</code>", html.escape(self.message)).replace("\n", "<br>")
        figure = ""
        if self.figure_png:
            data = base64.b64encode(self.figure_png).decode()
            figure = f'<br><img src="data:image/png;base64,{data}" style="max-width:480px">'
        return (f'<div style="border-left:4px solid {colour};padding:4px 8px">'
                f'<span style="color:{colour};font-weight:bold">{self.status}</span>'
                f'{": " if body else ""}{body}{figure}</div>')

    def to_dict(self) -> dict:
        found = {"status": self.status, "message": self.message, "score": self.score,
                 "max_score": self.max_score}
        if self.mistake is not None:
            found["mistake"] = self.mistake
        if self.failed_tests:
            found["failed_tests"] = list(self.failed_tests)
        return found


def correct(message: str = "", max_score: float = 1.0) -> Verdict:
    return Verdict(CORRECT, message, max_score, max_score)


def incorrect(message: str, score: float = 0.0, max_score: float = 1.0, figure=None,
              mistake: str | None = None, failed_tests=None) -> Verdict:
    return Verdict(INCORRECT, message, score, max_score, figure_to_png(figure), mistake,
                   tuple(failed_tests) if failed_tests else None)


def not_attempted(message: str = "", max_score: float = 1.0) -> Verdict:
    return Verdict(NOT_ATTEMPTED, message, 0.0, max_score)


def figure_to_png(figure) -> bytes | None:
    """PNG bytes of a matplotlib figure (closed afterwards so it is not shown twice)."""
    if figure is None:
        return None
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()
