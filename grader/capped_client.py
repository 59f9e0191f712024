"""nbclient with every output counted: the grader's worker never holds more than a fixed budget.

Each message from the kernel (printed text, displays, errors, answer records) is counted, by size,
against a budget per cell and a budget per notebook *before* it is stored; once a budget is spent
the rest is dropped and one note says so. Answer records (``ANSWER_MIME``) have budgets of their
own, so a cell that prints a flood cannot push its own test's record out. What could otherwise
grow without bound is not kept at all: ``update_display_data`` (and display ids, which let a later
message rewrite an earlier cell's output) and widget messages (``comm_*``), which nothing in the
feedback shows. A single message larger than the answer budget never even reaches Python:
``MAX_MESSAGE_BYTES`` is set on the client's sockets (ZeroMQ drops it on receipt).
"""
from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from course_utils.checking import ANSWER_MIME

MAX_ANSWER_BYTES = 32 * 2**20            # per test cell: the largest answer record (a few vocab-sized rows)
MAX_NOTEBOOK_ANSWER_BYTES = 64 * 2**20   # all answer records of one notebook
MAX_NOTEBOOK_OUTPUT_BYTES = 16 * 2**20   # all other outputs of one notebook
MAX_MESSAGE_BYTES = MAX_ANSWER_BYTES + 2**20


def message_size(msg: dict) -> int:
    """A cheap upper bound of what keeping ``msg`` costs (its content's text, plus binary buffers)."""
    return len(repr(msg.get("content", {}))) + sum(len(b) for b in msg.get("buffers") or [])


class CappedClient(NotebookClient):
    """A ``NotebookClient`` whose outputs are capped while they stream in (see the module docstring)."""

    max_cell_output_bytes = 1_000_000
    max_answer_bytes = MAX_ANSWER_BYTES
    max_notebook_output_bytes = MAX_NOTEBOOK_OUTPUT_BYTES
    max_notebook_answer_bytes = MAX_NOTEBOOK_ANSWER_BYTES

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("store_widget_state", False)
        super().__init__(*args, **kwargs)
        self._output_bytes: dict = {}

    def process_message(self, msg, cell, cell_index):
        msg_type = str(msg.get("msg_type", ""))
        content = msg.get("content")
        if not isinstance(content, dict):
            return None
        if msg_type.startswith("comm") or msg_type == "update_display_data":
            return None  # widgets and display updates: never stored, never shown
        if msg_type in ("execute_result", "display_data"):
            content.pop("transient", None)  # no display ids: no rewriting of earlier outputs
        if msg_type in ("stream", "error", "execute_result", "display_data") and not self._within_budget(
                msg, content, cell, cell_index):
            return None
        return super().process_message(msg, cell, cell_index)

    def _within_budget(self, msg, content, cell, cell_index) -> bool:
        data = content.get("data")
        is_answer = isinstance(data, dict) and ANSWER_MIME in data
        what = "answer record" if is_answer else "output"
        size = message_size(msg)
        for key, budget, scope in [((cell_index, is_answer), self.max_answer_bytes if is_answer
                                    else self.max_cell_output_bytes, "this cell"),
                                   (("notebook", is_answer), self.max_notebook_answer_bytes if is_answer
                                    else self.max_notebook_output_bytes, "this notebook")]:
            used = self._output_bytes.get(key, 0)
            self._output_bytes[key] = used + size
            if used + size > budget:
                if used <= budget and self._output_bytes.get(("noted", cell_index, is_answer)) is None:
                    self._output_bytes[("noted", cell_index, is_answer)] = True
                    cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                        "stream", name="stderr", text=f"[grader: {what} of {scope} cut at {budget:,} bytes]\n"))
                return False
        return True

    def reset_execution_trackers(self):
        super().reset_execution_trackers()
        self._output_bytes = {}
