"""The grader's own reading of a submission: answer cells that delegate to the course's reference.

``borrowed`` catches a reference answer while it runs, in the kernel; a kernel that forges its
record escapes that. This reading happens in the grader, on the notebook's text, where the
kernel has no say: names bound to the course's modules and functions (``from course_utils.reference
import pt as ref_pt`` in any cell, the release's own included; ``f = ref_pt.top_p_filter`` after
it; ``course_utils.lessons.beam_steps.reference_beam_step`` by its full path) are followed from cell
to cell as dotted paths, and a cell the student wrote (an answer cell or a cell of their own) that
binds an exercise's variable while using a function that answers it (``borrowed.reference_names``:
the references, a lesson's helpers, another library's, such as ``model.generate``) marks that
exercise (``reference_uses``). A ``def`` of the variable whose text reads like the reference's
(``borrowed_shape``) is only a note for review that names the reference: honest code can read like
it (issue 31), and points are taken on what ran. Demo cells (locked) may use the references freely.
"""
from __future__ import annotations

import ast

from course_utils.checking.borrowed import MESSAGE, MODULES, borrowed_message, reference_names
from course_utils.checking.borrowed_shape import copied_source
from course_utils.checking.nbgrader_cells import is_answer_cell, nbgrader_meta

PACKAGE = "course_utils"          # any module of the course may hold a function that answers
REFERENCE = "course_utils.reference"
DYNAMIC = "<a course module named at run time>"


def reference_uses(cells, problems, similar: dict | None = None) -> dict[str, str]:
    """``{problem id: message}`` for the function exercises among ``problems`` whose variable a
    student's cell binds while using a function that answers it (``borrowed.reference_names``).
    ``cells``: the assembled notebook's cells, in order (nbgrader metadata tells the student's
    from the locked). A ``def`` whose text resembles a reference (``borrowed_shape``) is no verdict:
    it goes into ``similar`` (``{problem id: note}``), for review."""
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
            if hit and problem.id not in found:
                found[problem.id] = borrowed_message(hit)
            elif copied and similar is not None:
                similar.setdefault(problem.id, f"`{var}` ({problem.id}) reads much like the reference "
                                               f"`{copied}` (borrowed_shape); no point was taken")
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


# Magics whose argument (a line's, or a cell's body) is Python code that IPython runs as is.
CODE_MAGICS = {"time", "timeit", "prun", "capture"}
# Magics that run no code of the cell's: read as nothing.
PLAIN_MAGICS = {"matplotlib", "config", "load_ext", "reload_ext", "autoreload", "pip", "who", "whos", "env",
                "precision", "pprint", "history", "pinfo", "pinfo2", "psearch", "pdoc", "pdef", "psource",
                "lsmagic", "magic", "xmode"}
_VALUED_OPTIONS = {"-n", "-r", "-s", "-l", "-T", "-D", "-p"}   # timeit's and prun's options that take a value


def parse_source(source: str):
    """The cell's syntax tree as IPython runs it (``TransformerManager().transform_cell``: magics
    and shell lines become calls on the shell, never dropped), with each statement-level magic of
    ``CODE_MAGICS`` replaced by the code it runs and each of ``PLAIN_MAGICS`` by ``pass``; None
    when the cell does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return _expanded(ast.parse(TransformerManager().transform_cell(str(source))))
    except (SyntaxError, ValueError, RecursionError, MemoryError, IndexError):
        return None


def _expanded(tree):
    """``tree`` with each statement replaced by what it runs (``_as_run``), in every block."""
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, field, [part for statement in value for part in _as_run(statement)])
    return tree


def _as_run(statement) -> list:
    """What a statement runs: itself, or a magic call's code (``%time x = f()`` runs ``x = f()``)."""
    call = statement.value if isinstance(statement, ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr in ("run_line_magic", "run_cell_magic") and _from_get_ipython(call.func.value)
            and call.args and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)):
        return [statement]
    name, *texts = [a.value for a in call.args]
    if name in PLAIN_MAGICS:
        return [ast.Pass()]
    if name not in CODE_MAGICS:
        return [statement]
    line = _without_options(texts[0]) if name != "capture" else ""
    code = "\n".join([line] + texts[1:])
    return _expanded(ast.parse(code)).body or [ast.Pass()]   # SyntaxError: the cell does not parse as run


def _without_options(line: str) -> str:
    """A ``%timeit -n 3 -r1 stmt`` line's statement (its options dropped)."""
    words = line.split(" ")
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option in _VALUED_OPTIONS and words:
            words.pop(0)
    return " ".join(words)


def _from_get_ipython(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython"


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


def mark_reference_answers(cells, entries: list[dict]) -> list[str]:
    """Give 0, with the reason, to each graded test (``entries``: the grader's per-test dicts with
    ``problem``, ``score``, ``status``, ``message``) whose answer ``reference_uses`` finds calling
    an answering function; returns the notes for review on answers that only read like one."""
    from course_utils.checking.registry import get_problem

    problems = []
    for entry in entries:
        try:
            problems.append(get_problem(entry["problem"]))
        except Exception:  # noqa: BLE001 - an exercise this checker does not know is judged as before
            continue
    similar: dict[str, str] = {}
    found = reference_uses(cells, problems, similar)
    for entry in entries:
        if entry["problem"] in found:
            entry.update(score=0.0, status="Incorrect", message=found[entry["problem"]])
    return [note for problem_id, note in similar.items() if problem_id not in found]
