"""The grader's own reading of a submission: a cell that changes how the notebook is graded.

A test cell the grader places collects the exercise's answer in the student's kernel, finding the
exercise by its id (``graded_cell``: a notebook's own ``q5 = ...`` is just a variable); a notebook
that changes the exercise (``q5.grade = forged``, ``q5.public_probes.clear()``), the checker's
modules, or rewrites cells on their
way to the interpreter (IPython's input and AST transformers, its display machinery) could record
whatever it likes, inside the test cell, past every check the kernel makes. None of that has an
honest use in a lesson, so the grader reads the student's cells (answer cells and cells of their
own; the release's locked cells are the course's) for it, on the notebook's text where the kernel
has no say, and a notebook that does it earns nothing, with the cell and the reason.

This is a reading of the text, as IPython runs it (magics included: ``borrowed_static.parse_source``):
code built at run time (``exec`` of a string) escapes it, as it escapes ``borrowed_static``;
ARCHITECTURE.md's threat model says so.
"""
from __future__ import annotations

import ast
import importlib

from course_utils.checking.borrowed_static import follow_names, parse_source, written_by_student

# Modules whose objects run the kernel or its output: changing any of their attributes is tampering.
MACHINERY = ("IPython", "ipykernel", "builtins", "jupyter_client", "zmq", "comm")
# Attributes of IPython's shell that decide what a cell runs or what it shows.
SHELL = {"input_transformers_cleanup", "input_transformers_post", "ast_transformers", "events", "run_cell",
         "run_cell_async", "run_ast_nodes", "run_code", "transform_cell", "display_pub", "displayhook",
         "kernel", "ex", "ev", "user_ns", "user_global_ns", "set_hook", "register_magic_function",
         "register_post_execute", "compile", "showtraceback"}
CHECKER = ("course_utils.lessons.", "course_utils.checking.")
# Methods that change the container they are called on.
MUTATORS = {"update", "setdefault", "pop", "popitem", "clear", "append", "extend", "insert", "remove",
            "__setitem__", "__delitem__", "__setattr__", "__delattr__"}


def checker_tampering(cells) -> str | None:
    """Why the notebook's ``cells`` (in order) cannot be graded, or None: the first student cell
    that changes the course's checker or the kernel's machinery, and what it does."""
    names: dict[str, tuple[str, ...]] = {}
    for number, cell in enumerate(cells, 1):
        if cell.get("cell_type") != "code":
            continue
        tree = parse_source(cell.get("source", ""))
        if tree is None:
            continue
        for name in _rebound(tree):   # a student's own ``q1, q3 = ...`` is a variable from here on
            names.pop(name, None)
        follow_names(tree, names)
        _star_imports(tree, names)
        if written_by_student(cell):
            found = _tampering(tree, names)
            if found:
                return f"cell {number} {found}"
    return None


def _star_imports(tree, names: dict):
    """``from course_utils.lessons.lesson5 import *`` binds the lesson's exercises (q1, q2, ...)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(CHECKER[0]) \
                and any(alias.name == "*" for alias in node.names):
            try:
                module = importlib.import_module(node.module)
            except ImportError:
                continue
            public = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
            names.update({name: (f"{node.module}.{name}",) for name in public})


def _tampering(tree, names: dict) -> str | None:
    # Rebinding a name (``q1 = ...``) changes nothing: the grader's test cells find each exercise
    # by its id (``graded_cell``), not by the notebook's globals.
    machinery = _machinery_names(tree) | {n for n, paths in names.items()
                                           if any(p.startswith(CHECKER) for p in paths)}
    for node in ast.walk(tree):
        for target in _changed(node):
            root = _root(target)
            if root in machinery | {"sys"} and (root != "sys" or "modules" in ast.unparse(target)):
                return f"changes `{ast.unparse(target)}`, part of what grades the notebook"
        if isinstance(node, ast.Attribute) and node.attr in SHELL and _from_shell(node.value):
            return f"uses `{ast.unparse(node)}`, which decides what the notebook's cells run"
    return None


def _changed(node) -> list:
    """What a statement or call changes an attribute or item of (a plain name is rebound, not
    changed): assignment and ``del`` targets, ``setattr``/``delattr``'s object, the object of a
    method that changes its container."""
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        return [target for target in targets if not isinstance(target, ast.Name)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in ("setattr", "delattr") and node.args:
        return [node.args[0]]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
        return [node.func.value]   # q4.__dict__.update(grade=...), q4.public_probes.clear()
    return []


def _rebound(tree) -> set[str]:
    """The global names a cell binds: assignments, ``def``/``class``, imports, loop and ``with``
    targets and ``del`` outside any function, and names a function declares ``global``."""
    bound = set()
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            bound |= {name for inner in ast.walk(node) if isinstance(inner, ast.Global) for name in inner.names}
        elif not isinstance(node, ast.Lambda):
            pending.extend(ast.iter_child_nodes(node))
    return bound


def _machinery_names(tree) -> set[str]:
    """The names a cell binds to the kernel's machinery modules (``import IPython.display as d``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] in MACHINERY}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in MACHINERY:
            found |= {a.asname or a.name for a in node.names}
    return found | set(MACHINERY)


def _root(node):
    """The name an attribute, subscript or call chain starts from (``q5`` in ``type(q5).grade``)."""
    while True:
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.args[0] if isinstance(node.func, ast.Name) and node.func.id in ("type", "vars") \
                and node.args else node.func
        else:
            return node.id if isinstance(node, ast.Name) else None


def _from_shell(node) -> bool:
    """Whether an expression is IPython's shell: ``get_ipython()`` or an attribute chain on it."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython"


def mark_tampering(cells, entries: list[dict]) -> str | None:
    """Give 0, with the reason, to every graded test (``entries``: the grader's per-test dicts) of a
    notebook whose cells change how it is graded; returns the reason, or None."""
    reason = checker_tampering(cells)
    if reason:
        for entry in entries:
            entry.update(score=0.0, status="Incorrect",
                         message=f"your notebook changes how it is graded ({reason}): no answer in it counts")
    return reason
