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

from course_utils.checking.borrowed_static import CODE_MAGICS, PLAIN_MAGICS, parse_source, written_by_student

BUILTINS = {"exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint"}
BY_NAME = {"setattr", "delattr"}   # with a name computed at run time (getattr only reads: no note)
# Not noted (issue 31): inspect, importlib (reload), pickle, timeit: ordinary tools, no event that
# can change a grade; what could (a hook, a reference's code replaced) is evidence from the run.
MODULES = {"gc", "ctypes", "cffi", "types", "marshal", "code", "codeop", "runpy", "subprocess",
           "multiprocessing", "pty", "signal", "threading", "_thread", "builtins", "IPython", "ipykernel", "zmq",
           "jupyter_client", "comm",
           # they run a string as code, or load code from bytes or by name
           "doctest", "pdb", "bdb", "trace", "cProfile", "profile", "unittest", "pkgutil", "zipimport", "site"}
SYS = {"modules", "_getframe", "settrace", "setprofile", "meta_path", "path_hooks", "addaudithook", "audit"}
OS = {"system", "popen", "fork", "execv", "execve", "execvp", "spawnv", "spawnl", "posix_spawn", "dup2"}
INTERNALS = {"__class__", "__bases__", "__base__", "__mro__", "__subclasses__", "__dict__", "__globals__",
             "__code__", "__closure__", "__builtins__", "__getattribute__", "__self__", "__func__",
             "__wrapped__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__", "__import__",
             "__defaults__", "__kwdefaults__", "__setattr__", "__delattr__", "__getattr__", "__frame__"}
NAMED_IN_STRINGS = INTERNALS | {"exec", "eval"}   # getattr(print, '__self__'), attrgetter('__code__')
MAGICS = CODE_MAGICS | PLAIN_MAGICS


def run_time_code(cells, release_cells=()) -> str | None:
    """The first student cell whose code is built or reached at run time, and how, or None. A cell
    as the release has it (``release_cells``: a demo the student may edit but did not) is the
    course's (lesson 2 shows its model's source with ``inspect``)."""
    course = {str(cell.get("source", "")).strip() for cell in release_cells if cell.get("cell_type") == "code"}
    aliases, written = {"sys": "sys", "os": "os"}, set()   # names for sys and os; modules the notebook wrote
    for number, cell in enumerate(cells, 1):
        source = str(cell.get("source", ""))
        if cell.get("cell_type") != "code" or not written_by_student(cell) or source.strip() in course:
            continue
        found = _magic(source)
        tree = None if found else parse_source(source)
        if tree is not None:
            aliases.update(_module_aliases(tree))
            written |= {n.value[:-3] for n in ast.walk(tree) if isinstance(n, ast.Constant)
                        and isinstance(n.value, str) and n.value.endswith(".py") and n.value[:-3].isidentifier()}
        found = found or (_construct(tree, aliases, written) if tree is not None else None)
        if found:
            return f"cell {number} {found}"
    return None


def _module_aliases(tree) -> dict[str, str]:
    """``{name: "sys" or "os"}`` for ``import sys as s``."""
    return {alias.asname: alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
            for alias in node.names if alias.name in ("sys", "os") and alias.asname}


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


def _construct(tree, aliases: dict, written: set) -> str | None:
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        found = _call(node) or _attribute(node, aliases) or _import(node, written)
        if found:
            return found
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMED_IN_STRINGS:
            return f"names `{node.value}` in a string (`getattr(..., {node.value!r})`)"
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


def _attribute(node, aliases: dict) -> str | None:
    if not isinstance(node, ast.Attribute):
        return None
    if node.attr in INTERNALS:
        return f"reaches an object's internals (`{ast.unparse(node)[:60]}`)"
    owner = aliases.get(ast.unparse(node.value), "")
    if (owner == "sys" and node.attr in SYS) or (owner == "os" and node.attr in OS):
        return f"uses `{owner}.{node.attr}`"
    if isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "get_ipython":
        return f"uses the shell itself (`{ast.unparse(node)[:60]}`)"
    return None


def _import(node, written: set) -> str | None:
    if isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and not node.level:
        modules = [node.module or ""]
        named = {alias.name for alias in node.names}
        wanted = named & (SYS if node.module == "sys" else OS if node.module == "os" else set())
        if wanted:
            return f"imports `{sorted(wanted)[0]}` from `{node.module}`"
    else:
        return "imports from its own folder" if isinstance(node, ast.ImportFrom) else None
    for module in modules:
        top = module.split(".")[0]
        if top in written:
            return f"imports `{top}`, a module the notebook wrote (`{top}.py`)"
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
