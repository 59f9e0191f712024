"""Lesson 1's first exercise: the vocabulary's size, computed from the tokenizer, not typed in.

Whether the number was typed in is read from the code that ran (the notebook's input history),
parsed as Python: the last assignment to ``vocab_size`` decides, so a template's blank line
(``vocab_size = ____``) kept above ``vocab_size = len(tokenizer)`` is code that computes it.
"""
import ast

from course_utils.checking import ValueProblem, mistake
from course_utils.checking.verdict import correct


def typed_in(cell: str, var: str) -> bool | None:
    """Whether the last assignment to ``var`` in ``cell`` gives it a number written out (``50257``,
    ``50_000 + 257``), or None when the cell does not assign ``var`` (or is not Python)."""
    try:
        tree = ast.parse(cell)
    except SyntaxError:
        return None
    assignments = [node for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                   and any(isinstance(t, ast.Name) and t.id == var
                           for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))]
    if not assignments:
        return None
    last = max(assignments, key=lambda node: (node.lineno, node.col_offset))
    return not isinstance(last, ast.AugAssign) and last.value is not None and _written_number(last.value)


def _written_number(node) -> bool:
    """A number literal, or arithmetic of number literals only: nothing read or called."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _written_number(node.operand)
    if isinstance(node, ast.BinOp):
        return _written_number(node.left) and _written_number(node.right)
    return False


class VocabularySize(ValueProblem):
    id = "lesson1.q1"
    var = "vocab_size"
    hints = ('The tokenizer is a Python object that knows its whole vocabulary, and many Python '
             'containers tell you how many entries they hold.',
             "Python's built-in that counts the entries of a container works on the tokenizer too "
             '(it counts the base vocabulary plus any added special tokens); '
             '`tokenizer.vocab_size` counts the base vocabulary only.',
             "`vocab_size = ...(tokenizer)`: fill in the built-in that counts entries. Don't type "
             'the number: code that computes it stays right for any tokenizer.')

    def collect(self, namespace, grading=False):
        payload = super().collect(namespace, grading)
        # Whether the code that set `vocab_size` typed the number in (read from the notebook's
        # input history, where there is one): right, but not what the exercise asks. What counts
        # is the assignment that ran last, as Python reads it: a template's `vocab_size = ____`
        # above `vocab_size = len(tokenizer)` computes the number.
        cells = namespace.get("_ih") or namespace.get("In") or []
        for cell in reversed(list(cells)[-50:]):
            typed = typed_in(cell, self.var) if isinstance(cell, str) else None
            if typed is not None:
                payload["typed"] = typed
                break
        return payload

    def judge(self, payload):
        verdict = super().judge(payload)
        if verdict.correct and payload.get("typed"):
            return correct("that is the number, but you typed it in. Compute it from `tokenizer` "
                           "instead, so that your code stays right for any tokenizer "
                           f"(`{self.name}.hint()` says how).", verdict.max_score)
        return verdict

    def expected(self):
        return len(self.ctx.tokenizer)

    @mistake("That is the largest token id, not the number of tokens: ids start at 0.")
    def largest_id(self):
        return len(self.ctx.tokenizer) - 1
