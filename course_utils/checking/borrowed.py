"""An answer that *is* the course's reference implementation earns nothing.

The course ships its reference decoding (``course_utils.reference``) because the lessons' demos
and the checker use it; nothing stops an answer from delegating to it. While the checker calls
the student's function (``student_code.call_student``), the functions that answer the exercise
(``reference_names``) are watched: their ``__code__`` is swapped for one that notes the call, so
every holder of the function object is caught (a direct call, an alias, a module attribute taken
earlier). A copy of the function object shares the reference's code object, and a copy of its
source compiles to the same bytecode and global names: ``copied_reference`` sees both. The
payload then says so (``{"reference": name}``) and the judge gives 0 with ``MESSAGE``.

What answers an exercise is not only ``course_utils.reference``: a lesson's own helpers (lesson 6's
``beam_steps.reference_beam_step``, lesson 7's ``distinct_n_reference``) and, for the capstone,
the library's ``generate()`` itself. An exercise declares those by their dotted paths
(``answered_by``); ``tests/test_answering_functions.py`` aliases every public function of the
course to every function exercise and fails on one that earns points unnoticed.

Reference functions that are building blocks of an exercise (lesson 7's strategy composes the
filters) are not watched for it: only the ones that answer it.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types

MESSAGE = "your answer calls the course's reference implementation"
MODULES = ("course_utils.reference.pt", "course_utils.reference.tf", "course_utils.reference.framework_free")
WATCH = "__course_reference_watch__"  # in a reference module's globals while a watch is armed
# The reference functions that answer each exercise whose variable does not name them.
BY_PROBLEM = {
    "lesson3.q3": ("next_token_probs", "top_choices"),
    "lesson3.q4": ("sequence_logprob",),
    "lesson4.q1": ("greedy_search", "greedy_search_no_cache"),
    "lesson4.q2": ("greedy_search", "greedy_search_no_cache"),
    "lesson5.q1": ("sample_from_logits", "sample"),
    "lesson5.q5": ("sample", "sample_from_logits"),
    "lesson6.q7": ("banned_ngram_tokens",),
    "lesson7.q5": (),   # composes the reference filters by design
}


def reference_names(problem) -> tuple[str, ...]:
    """The functions that answer ``problem``: the reference functions declared
    (``reference_functions``), listed above, or the one its variable names (``top_p_filter``;
    ``beam_search_pt`` -> ``beam_search``), then the dotted paths of ``problem.answered_by``."""
    declared = getattr(problem, "reference_functions", None)
    if declared is not None:
        names = tuple(declared)
    elif problem.id in BY_PROBLEM:
        names = BY_PROBLEM[problem.id]
    else:
        var = problem.var
        names = (var[:-3] if var.endswith(("_pt", "_tf")) else var,)
    return names + tuple(getattr(problem, "answered_by", ()))


def reference_functions(names) -> list[types.FunctionType]:
    """The functions ``names`` stands for: a bare name, in each loaded reference module (an
    unloaded one, and its framework, is not imported); a dotted path, the function it names, its
    decorators unwrapped (``transformers.generation.utils.GenerationMixin.generate``): a module of
    the course is imported for it, another library's only used when loaded."""
    found = []
    for name in names:
        if "." in name:
            function = _by_path(name)
            found += [function] if function is not None else []
            continue
        for module in (sys.modules.get(module_name) for module_name in MODULES):
            function = vars(module).get(name) if module is not None else None
            if isinstance(function, types.FunctionType) and function.__module__ == module.__name__:
                found.append(function)
    return found


def _by_path(path: str):
    """The function a dotted path names. Its module is the path up to a class (a capitalised part)
    or up to the function: taken from ``sys.modules`` only, never through a package's attributes
    (transformers' lazy ones would import a framework the student does not use), and imported
    only when it is the course's own."""
    parts = path.split(".")
    cut = next((i for i, part in enumerate(parts) if part[:1].isupper()), len(parts) - 1)
    module_name = ".".join(parts[:cut])
    module = sys.modules.get(module_name)
    if module is None and module_name.startswith("course_utils."):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
    found = module
    for attribute in parts[cut:]:
        found = getattr(found, attribute, None)
    found = inspect.unwrap(found) if callable(found) else None
    return found if isinstance(found, types.FunctionType) else None


def label(function) -> str:
    """How a record names an answering function: a reference's own name (``top_p_filter``), any
    other's dotted path (``transformers.generation.utils.GenerationMixin.generate``)."""
    if function.__module__ in MODULES:
        return function.__name__
    return f"{function.__module__}.{function.__qualname__}"


def borrowed_message(name: str) -> str:
    """Why an answer that calls (or copies) the answering function ``name`` earns nothing."""
    owner, _, last = name.rpartition(".")
    if last == "generate":
        return ("your answer calls the library's `generate()`, the answer this exercise is compared "
                "with: write the loop yourself")
    if name.startswith("transformers."):
        shown = owner.rsplit(".", 1)[-1] if last.startswith("__") else last
        return (f"your answer calls the library's `{shown}`, which computes this exercise's answer: "
                f"write the function yourself")
    return f"{MESSAGE} (`{last}`): write the function yourself; the reference is there for the demos"


def copied_reference(function, names) -> str | None:
    """The name of the reference function that ``function`` is a copy of (same code object, or
    the same bytecode and global names: its source pasted, locals renamed), else None. Only the
    references are compared: a lesson's helper can be as short as the honest answer (lesson 7's
    ``distinct_n_reference`` is its solution), so only a call of one counts."""
    function = getattr(function, "__func__", function)
    code = getattr(function, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None
    for reference in reference_functions([name for name in names if "." not in name]):
        original = _ORIGINAL.get(reference, reference.__code__)
        if code is original or (code.co_names == original.co_names and bytecode_shape(code) == bytecode_shape(original)):
            return label(reference)
    return None


_IGNORED = {"CACHE", "NOP", "EXTENDED_ARG", "RESUME", "PRECALL", "PUSH_NULL", "KW_NAMES"}


def bytecode_shape(code) -> list[tuple]:
    """The instructions of ``code`` with what a copy may change left out: local names (their slot
    numbers stay), strings (docstrings, messages), jump offsets, and what the interpreter's own
    specialisation rewrites (``LOAD_METHOD`` of a module reads back as ``LOAD_ATTR``)."""
    import dis

    shape = []
    for instruction in dis.get_instructions(code):
        name = "LOAD_ATTR" if instruction.opname == "LOAD_METHOD" else instruction.opname
        if name in _IGNORED:
            continue
        value = instruction.argval
        if "FAST" in name or "JUMP" in name or isinstance(value, str) and name == "LOAD_CONST":
            value = instruction.arg if "FAST" in name else None
        elif not isinstance(value, (str, int, float, bool, type(None))):
            value = None
        shape.append((name, value))
    return shape


_ORIGINAL: dict = {}  # reference function -> its own code, while a watch has swapped it
_STUDENT = [0]        # > 0 while the student's function runs (``student_code.call_student``)


@contextlib.contextmanager
def student_running():
    _STUDENT[0] += 1
    try:
        yield
    finally:
        _STUDENT[0] -= 1


@contextlib.contextmanager
def watching(names):
    """Within the block, note in the yielded list every call of the reference functions ``names``
    (whoever holds them); the functions behave as before and are restored on exit."""
    calls: list[str] = []
    swapped = []
    for function in reference_functions(names):
        if function.__closure__ or function in _ORIGINAL:
            continue
        original = function.__code__
        copy = types.FunctionType(original, function.__globals__, function.__name__, function.__defaults__)
        copy.__kwdefaults__ = function.__kwdefaults__

        def noted(*args, _name=label(function), _copy=copy, **kwargs):
            if _STUDENT[0]:  # the checker preparing inputs does not count, the student's code does
                calls.append(_name)
            return _copy(*args, **kwargs)

        # Keyed by the qualified name: two classes of one module both have a ``__call__``.
        function.__globals__.setdefault(WATCH, {})[function.__qualname__] = noted
        scratch: dict = {}
        exec(f"def {function.__name__}(*args, **kwargs):\n"  # noqa: S102 - a fixed trampoline
             f"    return {WATCH}[{function.__qualname__!r}](*args, **kwargs)\n", scratch)
        _ORIGINAL[function] = original
        function.__code__ = scratch[function.__name__].__code__
        swapped.append(function)
    try:
        yield calls
    finally:
        for function in swapped:
            function.__code__ = _ORIGINAL.pop(function)
            function.__globals__.get(WATCH, {}).pop(function.__qualname__, None)
