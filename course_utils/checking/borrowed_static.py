"""The grader's own reading of a submission: answer cells that delegate to the course's reference.

``borrowed`` catches a reference answer while it runs, in the kernel; a kernel that forges its
record escapes that. This reading happens in the grader, on the notebook's text, where the
kernel has no say: names bound to the course's modules and functions (``from course_utils.reference
import pt as ref_pt`` in any cell, the release's own included; ``f = ref_pt.top_p_filter`` after
it; ``course_utils.lessons.beam_steps.reference_beam_step`` by its full path) are followed from cell
to cell as dotted paths, and a cell the student wrote (an answer cell or a cell of their own) that
binds an exercise's variable while using a function that answers it (``borrowed.reference_names``:
the references, a lesson's helpers, another library's, such as ``model.generate``) marks that
exercise (``reference_uses``), and so does a ``def`` of the variable whose source is a copy of the
reference's (``borrowed_shape``). Demo cells (locked) may use the references freely.
"""
from __future__ import annotations

import ast

from course_utils.checking.borrowed import MESSAGE, MODULES, borrowed_message, reference_names
from course_utils.checking.borrowed_shape import copied_source
from course_utils.checking.nbgrader_cells import is_answer_cell, nbgrader_meta

PACKAGE = "course_utils"          # any module of the course may hold a function that answers
REFERENCE = "course_utils.reference"
DYNAMIC = "<a course module named at run time>"


def reference_uses(cells, problems) -> dict[str, str]:
    """``{problem id: message}`` for the function exercises among ``problems`` whose variable a
    student's cell binds while using a function that answers it (``borrowed.reference_names``).
    ``cells``: the assembled notebook's cells, in order (nbgrader metadata tells the student's
    from the locked)."""
    names: dict[str, tuple[str, ...]] = {}  # a name in the kernel -> the dotted paths it may hold
    found = {}
    wanted = {p.var: p for p in problems if getattr(p, "var", "") and hasattr(p, "public_probes")}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        tree = parse_source(cell.get("source", ""))
        if tree is None:
            continue
        used = follow_names(tree, names)
        if not written_by_student(cell):
            continue
        for var in _bound(tree) & set(wanted):
            problem = wanted[var]
            hit = _answer_used(tree, used, reference_names(problem))
            copied = None if hit else copied_source(tree, var, reference_names(problem))
            if (hit or copied) and problem.id not in found:
                found[problem.id] = (borrowed_message(hit) if hit else
                                     f"{MESSAGE}: your `{var}` is a copy of its `{copied}`; write the "
                                     f"function yourself")
    return found


def _answer_paths(names) -> dict[str, str]:
    """``{dotted path: name}``: where each answering function can be reached from a cell."""
    paths = {}
    for name in names:
        holders = [name.rsplit(".", 1)[0]] if "." in name else [*MODULES, REFERENCE]
        paths.update({f"{holder}.{name.rsplit('.', 1)[-1]}": name for holder in holders})
    return paths


def _answer_used(tree, used: set[str], names) -> str | None:
    """The answering function (one of ``names``) that a cell using ``used`` reaches, or None: by
    its path; through its module and ``getattr`` (or a module named at run time); another
    library's by its name or its class's (``model.generate``, ``TopPLogitsWarper``)."""
    paths = _answer_paths(names)
    for path in sorted(used & set(paths)):
        return paths[path]
    if _calls_getattr(tree):
        for path, name in sorted(paths.items()):
            holder = path.rsplit(".", 1)[0]
            if DYNAMIC in used or holder in used or (holder.startswith(REFERENCE) and REFERENCE in used):
                return name
    return _library_function_named(tree, names)


def _library_function_named(tree, names) -> str | None:
    """The first of ``names`` from another library (``transformers``) that the cell mentions, by
    its own name or its class's."""
    mentioned = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    mentioned |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    mentioned |= {node.name.rsplit(".", 1)[-1] for node in ast.walk(tree) if isinstance(node, ast.alias)}
    for name in names:
        owner, _, last = name.rpartition(".")
        if "." not in name or name.startswith(PACKAGE + "."):
            continue
        owner = owner.rsplit(".", 1)[-1]
        if (owner[:1].isupper() and owner in mentioned) or (not last.startswith("__") and last in mentioned):
            return name
    return None


def written_by_student(cell) -> bool:
    return not nbgrader_meta(cell) or is_answer_cell(cell)


def parse_source(source: str):
    lines = [line for line in str(source).splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def follow_names(tree, names: dict) -> set[str]:
    """Update ``names`` with what ``tree`` binds to the course's modules and functions; return the
    dotted paths it uses (``DYNAMIC`` for a course module named in a string)."""
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(_imported(node))
        elif isinstance(node, (ast.Name, ast.Attribute, ast.Call)):
            used.update(_paths(node, names))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and PACKAGE in node.value:
            used.add(DYNAMIC)   # importlib.import_module("course_utils.reference.pt")
    for node in ast.walk(tree):   # f = ref_pt.top_p_filter: f holds it from now on
        if isinstance(node, ast.Assign) and _paths(node.value, names):
            names.update({t.id: _paths(node.value, names) for t in node.targets if isinstance(t, ast.Name)})
    return used


def _imported(node) -> dict[str, tuple[str, ...]]:
    """``{name: (dotted path,)}`` for what an import binds from the course's package."""
    if isinstance(node, ast.Import):
        return {alias.asname or alias.name.split(".")[0]: (alias.name if alias.asname else alias.name.split(".")[0],)
                for alias in node.names if alias.name.split(".")[0] == PACKAGE}
    module = node.module or ""
    if module.split(".")[0] != PACKAGE or node.level:
        return {}
    return {alias.asname or alias.name: (f"{module}.{alias.name}",) for alias in node.names}


def _paths(node, names: dict) -> tuple[str, ...]:
    """The dotted paths an expression may stand for: a tracked name, an attribute of one, and
    ``for_framework(...)``'s result (either reference module)."""
    if isinstance(node, ast.Name):
        return names.get(node.id, ())
    if isinstance(node, ast.Attribute):
        return tuple(f"{path}.{node.attr}" for path in _paths(node.value, names))
    if isinstance(node, ast.Call) and any(p.endswith(".for_framework") for p in _paths(node.func, names)):
        return MODULES[:2]
    return ()


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
