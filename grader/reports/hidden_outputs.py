"""Outputs that would show a hidden test's input are withheld from the feedback page.

The kernel learns an exercise's hidden tests only while its test cell runs (the grader writes them
into that cell), and the feedback page replaces each test cell's outputs by the grader's verdict.
What remains is a student's function that keeps the inputs it is called with and a later cell that
prints them: such an output is replaced, on the page, by a note saying so. Hidden inputs are
matched as text (prompts and other strings of at least ``MIN_LENGTH`` characters); a hidden input
that is only a number cannot be told apart from any other number and is not matched.
"""
from __future__ import annotations

MIN_LENGTH = 4
WITHHELD = "[output withheld from this page: it shows the input of a hidden test]\n"


def secret_strings(hidden_specs) -> set[str]:
    """The strings of at least ``MIN_LENGTH`` characters anywhere in ``hidden_specs`` (nested
    lists and dicts of probe specs)."""
    found = set()
    stack = [hidden_specs]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if len(value.strip()) >= MIN_LENGTH:
                found.add(value.strip())
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return found


def _text_of(output) -> str:
    """Every text an output carries: a stream's text, each MIME bundle's text, an error's parts."""
    parts = [output.get("text", ""), output.get("ename", ""), output.get("evalue", "")]
    parts += [str(line) for line in output.get("traceback", []) or []]
    for value in (output.get("data") or {}).values():
        parts.append(value if isinstance(value, str) else "".join(map(str, value)) if isinstance(value, list)
                     else str(value))
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def withhold(cells, test_indexes, secrets: set[str]) -> int:
    """Replace the outputs of each code cell (but the test cells, whose outputs the verdict
    replaces) that show one of ``secrets``; returns how many cells were withheld."""
    if not secrets:
        return 0
    withheld = 0
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or index in test_indexes:
            continue
        if any(secret in _text_of(output) for output in cell.get("outputs", []) for secret in secrets):
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": WITHHELD}]
            withheld += 1
    return withheld
