"""The grader's own reading of a submission: answer cells that delegate to the course's reference.

``borrowed`` catches a reference answer while it runs, in the kernel; a kernel that forges its
record escapes that. This reading happens in the grader, on the notebook's text, where the
kernel has no say: names bound to the reference (``from course_utils.reference import pt as
ref_pt`` in any cell, the release's own included; ``f = ref_pt.top_p_filter`` after it) are
followed from cell to cell, and a cell the student wrote (an answer cell or a cell of their own)
that binds an exercise's variable while using the reference function that answers it marks that
exercise (``reference_uses``), and so does a ``def`` of the variable whose source is a copy of the
reference's (``borrowed_shape``). Demo cells (locked) may use the references freely.
"""
from __future__ import annotations

import ast

from course_utils.checking.borrowed import MESSAGE, reference_names
from course_utils.checking.borrowed_shape import copied_source
from course_utils.checking.nbgrader_cells import is_answer_cell, nbgrader_meta

PACKAGE = "course_utils.reference"
ANY = "*"   # a name bound to a whole reference module: any of its functions
MODULE_NAMES = {"reference", "pt", "tf", "framework_free", "for_framework"}


def reference_uses(cells, problems) -> dict[str, str]:
    """``{problem id: message}`` for the function exercises among ``problems`` whose variable a
    student's cell binds while using that exercise's reference function. ``cells``: the
    assembled notebook's cells, in order (nbgrader metadata tells the student's from the locked)."""
    names = {}  # a name in the kernel -> the reference function it holds, or ANY (a module)
    found = {}
    wanted = {p.var: p for p in problems if getattr(p, "var", "") and hasattr(p, "public_probes")}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        tree = _parse(cell.get("source", ""))
        if tree is None:
            continue
        used = _follow(tree, names)
        if not _students(cell):
            continue
        for var in _bound(tree) & set(wanted):
            problem = wanted[var]
            answers = set(reference_names(problem))
            hit = sorted(answers & used) or (sorted(answers) if ANY in used and answers and _calls_getattr(tree) else [])
            copied = None if hit else copied_source(tree, var, answers)
            if (hit or copied) and problem.id not in found:
                found[problem.id] = (f"{MESSAGE} (`{hit[0]}`): write the function yourself" if hit else
                                     f"{MESSAGE}: your `{var}` is a copy of its `{copied}`; write the "
                                     f"function yourself")
    return found


def _students(cell) -> bool:
    return not nbgrader_meta(cell) or is_answer_cell(cell)


def _parse(source: str):
    lines = [line for line in str(source).splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _follow(tree, names: dict) -> set[str]:
    """Update ``names`` with what ``tree`` binds to the reference; return the functions it uses."""
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(_imported(node))
        else:
            used |= _used(node, names)
    for node in ast.walk(tree):   # f = ref_pt.top_p_filter: f holds it from now on
        value = getattr(node, "value", None) if isinstance(node, ast.Assign) else None
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and names.get(value.value.id) == ANY:
            names.update({t.id: value.attr for t in node.targets if isinstance(t, ast.Name)})
    return used


def _imported(node) -> dict[str, str]:
    """``{name: what it holds}`` for the reference names an import binds (ANY: a whole module)."""
    if isinstance(node, ast.Import):
        return {alias.asname or alias.name.split(".")[0]: ANY for alias in node.names
                if alias.name.startswith(PACKAGE)}
    module = node.module or ""
    if module in ("course_utils", PACKAGE):   # a module (pt, tf, reference itself, for_framework) or a function
        return {alias.asname or alias.name: ANY if alias.name in MODULE_NAMES else alias.name
                for alias in node.names if module == PACKAGE or alias.name == "reference"}
    if module.startswith(PACKAGE + "."):
        return {alias.asname or alias.name: alias.name for alias in node.names}
    return {}


def _used(node, names: dict) -> set[str]:
    """The reference functions (or ANY) that one syntax node uses through ``names``."""
    if isinstance(node, ast.Attribute):
        used = {node.attr} if isinstance(node.value, ast.Name) and names.get(node.value.id) == ANY else set()
        return used | ({ANY} if node.attr in ("reference", "for_framework") else set())
    if isinstance(node, ast.Name) and node.id in names:
        return {names[node.id]}
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and PACKAGE in node.value:
        return {ANY}   # importlib.import_module("course_utils.reference.pt")
    return set()


def _bound(tree) -> set[str]:
    """The names a cell binds at its top level: assignments, ``def``s, imports."""
    bound = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return bound


def _calls_getattr(tree) -> bool:
    """Whether the cell reaches a reference function through a name for a whole module (getattr)."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "getattr"
               for n in ast.walk(tree))


def mark_reference_answers(cells, entries: list[dict]) -> None:
    """Give 0, with the reason, to each graded test (``entries``: the grader's per-test dicts with
    ``problem``, ``score``, ``status``, ``message``) whose answer ``reference_uses`` finds."""
    from course_utils.checking.registry import get_problem

    problems = []
    for entry in entries:
        try:
            problems.append(get_problem(entry["problem"]))
        except Exception:  # noqa: BLE001 - an exercise this checker does not know is judged as before
            continue
    found = reference_uses(cells, problems)
    for entry in entries:
        if entry["problem"] in found:
            entry.update(score=0.0, status="Incorrect", message=found[entry["problem"]])
