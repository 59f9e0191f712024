"""How a check shows itself: rich output in a Jupyter kernel, plain text anywhere else."""
from __future__ import annotations

from course_utils.checking.notebook import in_kernel
from course_utils.checking.verdict import Verdict


def show_verdict(verdict: Verdict):
    """The verdict's coloured HTML (and figure) in a notebook; its text elsewhere."""
    if in_kernel():
        from IPython.display import display

        display(verdict)
    else:
        print(verdict)


def show_text(title: str, text: str, code: bool = False):
    """A hint or a solution: Markdown in a notebook (``code``: a Python block), text elsewhere."""
    if in_kernel():
        from IPython.display import Markdown, display

        body = f"```python\n{text}\n```" if code else text
        # A body of several lines (a code skeleton) starts on a line of its own.
        display(Markdown(f"**{title}:**\n\n{body}" if code or "\n" in body else f"**{title}:** {body}"))
    else:
        print(f"{title}: {text}")
