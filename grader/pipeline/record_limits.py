"""What an answer record may be, checked in the grader before any judge sees it (issue 18, items 5, 7).

A record is made by the checker's ``collect`` in the student's kernel, so its shape is known: a few
levels of dicts and lists, token ids, probabilities, short texts. The kernel is the student's,
though, and can display any record it likes. The judge's cost must be bounded by what the exercise
declares, not by what a record holds, and no record may make the grader fail (a ``RecursionError``
on a record nested too deeply, a ``ValueError`` on an int of more than 4,300 digits): such a record
is *rejected*, with a reason, before anything is judged, and the row says ``invalid``.

``record_problem`` walks a record without recursion; ``parse_record`` reads one sent as JSON text.
What each exercise declares (its probes, the runs of a sampling loop) is checked by the exercise
itself (``Problem.recorded_gap``), which the grader also calls before judging.
"""
from __future__ import annotations

import json

MAX_DEPTH = 32            # an honest record nests at most ~8 levels (multipart > probes > runs > ids)
MAX_NODES = 4_000_000     # values in one record: a few dozen vocabulary-sized rows are ~2 million
MAX_INT_BITS = 1000       # ~300 decimal digits: more than a float can hold, far more than any answer
MAX_KEY_CHARS = 1000      # a dict key is a name or a number, never a document
MESSAGE_DEPTH = MAX_DEPTH + 32  # a whole kernel message (content > data > record, widgets' state)


class RejectedRecord(Exception):
    """An answer record the grader refuses to judge; the message says why, for the row's reason."""


def record_problem(record, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``record`` (plain JSON values) cannot be judged, or ``None``. Never recurses, never raises."""
    stack, nodes = [(record, 1)], 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return f"holds more than {MAX_NODES:,} values"
        if depth > max_depth:
            return f"is nested more than {max_depth} levels deep"
        if isinstance(value, bool) or value is None or isinstance(value, (float, str)):
            continue
        if isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                return f"holds an integer of about {value.bit_length() * 0.30103:,.0f} digits"
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
                    return "has a key that is not a short text"
                stack.append((item, depth + 1))
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1) for item in value)
        else:
            return f"holds a {type(value).__name__}, which is not JSON"
    return None


def parse_record(text: str):
    """The record a display sent as JSON text (with ``-Infinity``/``NaN``); ``RejectedRecord``
    when it cannot be read: not JSON, nested beyond Python's limits, an int beyond its digits."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RejectedRecord(f"is not JSON ({error.msg})") from None
    except RecursionError:
        raise RejectedRecord("is nested too deeply to be read") from None
    except ValueError as error:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        raise RejectedRecord(f"cannot be read ({str(error)[:120]})") from None


def checked(record) -> dict:
    """``record`` if it may be judged, else ``RejectedRecord`` with the reason."""
    problem = record_problem(record)
    if problem is not None:
        raise RejectedRecord(problem)
    return record
