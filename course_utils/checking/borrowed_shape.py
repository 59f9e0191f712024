"""A function whose source is the reference's, renamed or lightly edited, read by the grader.

``borrowed.copied_reference`` recognises a pasted reference by its bytecode, in the kernel; a kernel
that forges its record escapes that. This reading is the grader's own, on the notebook's text: a
``def`` of an exercise's variable in a student's cell is compared with the source of the reference
functions that answer the exercise, with every name, argument, docstring and annotation blanked
out (``shape``), by ``difflib``'s ratio. The course's own solutions stay below 0.86 of their
reference (measured on every solution; ``tests/test_reference_borrowing.py`` keeps it so); a paste
with its variables renamed is 1.0, a paste with a line added stays above ``SIMILAR``. Functions of
fewer than ``MIN_NODES`` syntax nodes are never marked: too short to be told from honest work.
"""
from __future__ import annotations

import ast
import difflib
import functools
import inspect

from course_utils.checking.borrowed import reference_functions

SIMILAR = 0.93
MIN_NODES = 20


class _Blanked(ast.NodeTransformer):
    """Names, arguments, docstrings, annotations and decorators blanked: the function's shape."""

    def visit_Name(self, node):
        return ast.copy_location(ast.Name(id="_", ctx=node.ctx), node)

    def visit_arg(self, node):
        return ast.copy_location(ast.arg(arg="_", annotation=None), node)

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        node.name, node.body, node.returns, node.decorator_list = "_", body or [ast.Pass()], None, []
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


def shape(function_def: ast.FunctionDef) -> str:
    """The function's syntax tree with its names blanked, as text (the node is not changed)."""
    copy = ast.parse(ast.unparse(function_def)).body[0]
    return ast.dump(_Blanked().visit(copy), annotate_fields=False)


@functools.lru_cache(maxsize=None)
def _reference_shapes(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    found = []
    for function in reference_functions(names):
        try:
            node = ast.parse(inspect.getsource(function)).body[0]
        except (OSError, TypeError, SyntaxError):
            continue
        found.append((function.__name__, shape(node)))
    return tuple(found)


def similarity(function_def: ast.FunctionDef, names) -> tuple[float, str | None]:
    """``(ratio, reference name)``: how close ``function_def`` is to the closest reference function
    called one of ``names`` (``0.0, None`` when none is loaded)."""
    mine = shape(function_def)
    best = (0.0, None)
    references = tuple(name for name in names if "." not in name)  # not a helper: see copied_reference
    for name, theirs in _reference_shapes(references):
        ratio = difflib.SequenceMatcher(None, mine, theirs, autojunk=False).ratio()
        best = max(best, (ratio, name), key=lambda pair: pair[0])
    return best


def copied_source(tree: ast.Module, var: str, names) -> str | None:
    """The reference function that the cell's top-level ``def var`` is a copy of, or None."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == var:
            if sum(1 for _ in ast.walk(node)) < MIN_NODES:
                return None
            ratio, name = similarity(node, names)
            if ratio >= SIMILAR:
                return name
    return None
