"""nbclient with every output counted: the grader's worker never holds more than a fixed budget.

Each message from the kernel (printed text, displays, errors, answer records) is counted, by size,
against a budget per cell and a budget per notebook *before* it is stored; once a budget is spent
the rest is dropped and one note says so. Answer records (``ANSWER_MIME``) have budgets of their
own, so a cell that prints a flood cannot push its own test's record out. What could otherwise
grow without bound is not kept at all: ``update_display_data`` (and display ids, which let a later
message rewrite an earlier cell's output) and widget messages (``comm_*``), which nothing in the
feedback shows. A single message larger than the answer budget never even reaches Python:
``MAX_MESSAGE_BYTES`` is set on the client's sockets (ZeroMQ drops it on receipt).

ZeroMQ drops such a message by *disconnecting* the socket, for good: before, one 50 MB print cost
every later output of the notebook, test cells' answer records included (each cell then waited
``iopub_timeout`` for messages that never came). A monitor on the output socket sees the disconnect;
before the next cell runs the client connects a new output socket (and waits until it hears the
kernel on it), notes in the cell that lost output that it was cut, and the run goes on: big outputs
lose output, never answers. Content the grader's JSON reader refuses (nested too deeply, an int
beyond Python's digits) is dropped with a note too, never an exception in the grader.
"""
from __future__ import annotations

import asyncio
import re
import time

import nbformat
import zmq
from nbclient import NotebookClient
from traitlets import Integer
from zmq.utils.monitor import recv_monitor_message

from course_utils.checking import ANSWER_MIME
from grader.pipeline import record_limits

MAX_ANSWER_BYTES = 32 * 2**20            # per test cell: the largest answer record (a few vocab-sized rows)
MAX_NOTEBOOK_ANSWER_BYTES = 64 * 2**20   # all answer records of one notebook
MAX_NOTEBOOK_OUTPUT_BYTES = 16 * 2**20   # all other outputs of one notebook
MAX_MESSAGE_BYTES = MAX_ANSWER_BYTES + 2**20
CUT = " cut"                    # in every note the client adds where it dropped output
UNREADABLE = "course-grader-unreadable"  # the content of a message the JSON reader refused
RECONNECT_S = 10                 # for the new output socket to hear the kernel


def note(text: str):
    """The stderr output the client adds to a cell where it dropped something."""
    return nbformat.v4.new_output("stream", name="stderr", text=f"[grader: {text}]\n")


def was_cut(cell) -> bool:
    """Whether the client dropped some of this cell's output (its notes say so)."""
    return any(o.get("output_type") == "stream" and str(o.get("text", "")).startswith("[grader: ")
               and CUT in str(o.get("text", "")) for o in cell.get("outputs", []))


def guarded(unpack):
    """``unpack`` that answers a stand-in (for a header too: no ``msg_id`` of a cell) instead of
    raising on JSON Python refuses to read, or of a depth or size of int nothing downstream should
    meet (``record_limits``: ``repr``, nbformat and the judge recurse)."""
    def read(data):
        try:
            value = unpack(data)
            if isinstance(data, (bytes, str)) and _brackets(data) < record_limits.MESSAGE_DEPTH and not _long_digits(data):
                return value  # cannot be too deep nor hold a long int: no need to walk it
            problem = record_limits.record_problem(value, record_limits.MESSAGE_DEPTH)
            if problem is None:
                return value
        except (ValueError, RecursionError) as error:
            problem = f"{type(error).__name__}: {str(error)[:100]}"
        return {UNREADABLE: problem, "msg_id": "", "msg_type": UNREADABLE}
    return read


def _brackets(data) -> int:
    return data.count(b"[") + data.count(b"{") if isinstance(data, bytes) else data.count("[") + data.count("{")


def _long_digits(data) -> bool:
    """Whether ``data`` holds a run of 300 digits (an int too long to judge, or just text: walk to see)."""
    return (_DIGITS_BYTES if isinstance(data, bytes) else _DIGITS_TEXT).search(data) is not None


_DIGITS_BYTES, _DIGITS_TEXT = re.compile(rb"[0-9]{300}"), re.compile(r"[0-9]{300}")


def message_size(msg: dict) -> int:
    """A cheap upper bound of what keeping ``msg`` costs (its content's text, plus binary buffers)."""
    return len(repr(msg.get("content", {}))) + sum(len(b) for b in msg.get("buffers") or [])


class CappedClient(NotebookClient):
    """A ``NotebookClient`` whose outputs are capped while they stream in (see the module docstring)."""

    max_cell_output_bytes = Integer(1_000_000, help="printed output kept per cell (bytes)").tag(config=True)
    max_answer_bytes = MAX_ANSWER_BYTES
    max_notebook_output_bytes = MAX_NOTEBOOK_OUTPUT_BYTES
    max_notebook_answer_bytes = MAX_NOTEBOOK_ANSWER_BYTES

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("store_widget_state", False)
        super().__init__(*args, **kwargs)
        self._output_bytes: dict = {}

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        kc.session.unpack = guarded(kc.session.unpack)
        self._watch_output_socket()
        return kc

    def _watch_output_socket(self):
        monitor = self.kc.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._output_monitor = zmq.Socket.shadow(monitor.underlying)  # polled without the event loop
        self._output_monitor_owner = monitor

    def _output_socket_lost(self) -> bool:
        monitor, lost = getattr(self, "_output_monitor", None), False
        while monitor is not None and monitor.poll(0):
            lost |= recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
        return lost

    async def _reconnect_output_socket(self):
        """A new output socket, heard from before the next cell runs (so none of its output is lost)."""
        self._output_monitor_owner.close(linger=0)
        old, self.kc._iopub_channel = self.kc.iopub_channel, None  # jupyter_client makes it again on use
        old.close()
        channel = self.kc.iopub_channel
        deadline = time.monotonic() + RECONNECT_S
        while time.monotonic() < deadline:  # a kernel_info request makes the kernel publish its status
            self.kc.kernel_info()
            try:
                await asyncio.wait_for(channel.get_msg(timeout=None), 1.0)
                break
            except (asyncio.TimeoutError, TimeoutError):
                continue
        while await channel.msg_ready():  # what the requests published: nothing of a cell's
            await channel.get_msg(timeout=0)
        self._watch_output_socket()

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        if self._output_socket_lost():
            previous = getattr(self, "_last_cell", None)
            if previous is not None:
                previous.setdefault("outputs", []).append(note(
                    f"output of this cell cut: the kernel sent a message larger than {MAX_MESSAGE_BYTES:,} "
                    "bytes; it and the rest of this cell's output were dropped"))
            await self._reconnect_output_socket()
        self._last_cell = cell
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)

    def process_message(self, msg, cell, cell_index):
        msg_type = str(msg.get("msg_type", ""))
        content = msg.get("content")
        if not isinstance(content, dict):
            return None
        if UNREADABLE in content:
            if msg_type in ("stream", "error", "execute_result", "display_data"):
                cell.setdefault("outputs", []).append(note(f"an output of this cell cut: the grader could not "
                                                           f"read it ({content[UNREADABLE]})"))
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
                    cell.setdefault("outputs", []).append(note(f"{what} of {scope} cut at {budget:,} bytes"))
                return False
        return True

    def reset_execution_trackers(self):
        super().reset_execution_trackers()
        self._output_bytes = {}
