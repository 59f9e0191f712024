"""The grader's own reading of a submission: code that the notebook's text does not show.

``borrowed_static`` and ``checker_tampering`` read what a student's cells say. Code built while the
kernel runs (``exec`` of a string put together from pieces, an attribute reached through a name
computed at run time, an object's internals, a module the notebook writes and then imports) says
nothing in the text, and is the one way left to replace the checker, or reach a reference, without
a telltale. None of it is needed in a lesson, but some of it has innocent uses, so it costs no
points: the grader notes the first such cell on the row (``grades.csv``'s reason: "for review: ...")
for the instructor to look at.
"""
from __future__ import annotations

import ast
import importlib.util
import sys

from course_utils.checking.borrowed_static import parse_source, written_by_student

BUILTINS = {"exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint"}
BY_NAME = {"getattr", "setattr", "delattr", "hasattr"}   # with a name computed at run time
MODULES = {"importlib", "inspect", "gc", "ctypes", "cffi", "types", "marshal", "pickle", "dill", "cloudpickle",
           "code", "codeop", "runpy", "subprocess", "multiprocessing", "pty", "signal", "threading",
           "_thread", "builtins", "IPython", "ipykernel", "zmq", "jupyter_client", "comm",
           # they run a string as code, or load code from bytes or by name
           "timeit", "doctest", "pdb", "bdb", "trace", "cProfile", "profile", "unittest", "pkgutil",
           "zipimport", "site", "copyreg", "shelve"}
SYS = {"modules", "_getframe", "settrace", "setprofile", "meta_path", "path_hooks", "addaudithook"}
OS = {"system", "popen", "fork", "execv", "execve", "execvp", "spawnv", "spawnl", "posix_spawn", "dup2"}
INTERNALS = {"__class__", "__bases__", "__base__", "__mro__", "__subclasses__", "__dict__", "__globals__",
             "__code__", "__closure__", "__builtins__", "__getattribute__", "__self__", "__func__",
             "__wrapped__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__", "__import__",
             "__defaults__", "__kwdefaults__", "__setattr__", "__delattr__", "__getattr__", "__frame__"}
MAGICS = {"timeit", "time", "matplotlib", "config", "load_ext", "reload_ext", "autoreload", "pip", "who", "whos",
          "env", "capture", "precision", "pprint", "history", "prun"}


def run_time_code(cells, release_cells=()) -> str | None:
    """The first student cell whose code is built or reached at run time, and how, or None. A cell
    as the release has it (``release_cells``: a demo the student may edit but did not) is the
    course's (lesson 2 shows its model's source with ``inspect``)."""
    course = {str(cell.get("source", "")).strip() for cell in release_cells if cell.get("cell_type") == "code"}
    for number, cell in enumerate(cells, 1):
        source = str(cell.get("source", ""))
        if cell.get("cell_type") != "code" or not written_by_student(cell) or source.strip() in course:
            continue
        found = _magic(source)
        tree = None if found else parse_source(source)
        found = found or (_construct(tree) if tree is not None else None)
        if found:
            return f"cell {number} {found}"
    return None


def _magic(source: str) -> str | None:
    """A shell line (``!cmd``) or a magic outside the ordinary ones (``%run``, ``%%writefile``)."""
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("!"):
            return f"runs a shell command (`{stripped[:40]}`)"
        name = stripped.lstrip("%").split(" ", 1)[0] if stripped.startswith("%") else ""
        if name and name not in MAGICS:
            return f"uses the magic `%{name}`"
    return None


def _construct(tree) -> str | None:
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        found = _call(node) or _attribute(node) or _import(node)
        if found:
            return found
        if isinstance(node, ast.Name) and node.id in INTERNALS:
            return f"uses `{node.id}`"
        if isinstance(node, ast.Name) and node.id in BUILTINS | BY_NAME and id(node) not in called:
            return f"uses `{node.id}` as a value (`map(setattr, ...)` changes what it is given)"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/proc/" in node.value:
            return "opens the kernel's own process files (`/proc/...`)"
    return None


def _call(node) -> str | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    if node.func.id in BUILTINS:
        return f"calls `{node.func.id}()`, which runs or reaches code the cell does not show"
    computed = len(node.args) > 1 and not (isinstance(node.args[1], ast.Constant) and
                                           isinstance(node.args[1].value, str))
    if node.func.id in BY_NAME and computed:
        return f"calls `{node.func.id}()` with a name computed at run time"
    return None


def _attribute(node) -> str | None:
    if not isinstance(node, ast.Attribute):
        return None
    if node.attr in INTERNALS:
        return f"reaches an object's internals (`{ast.unparse(node)[:60]}`)"
    owner = ast.unparse(node.value)
    if (owner == "sys" and node.attr in SYS) or (owner == "os" and node.attr in OS):
        return f"uses `{owner}.{node.attr}`"
    if isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "get_ipython":
        return f"uses the shell itself (`{ast.unparse(node)[:60]}`)"
    return None


def _import(node) -> str | None:
    if isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and not node.level:
        modules = [node.module or ""]
    else:
        return "imports from its own folder" if isinstance(node, ast.ImportFrom) else None
    for module in modules:
        top = module.split(".")[0]
        if top in MODULES:
            return f"imports `{module}`"
        if top not in sys.stdlib_module_names and _not_installed(top):
            return f"imports `{top}`, which is not installed: a module the notebook writes itself?"
    return None


def _not_installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True
