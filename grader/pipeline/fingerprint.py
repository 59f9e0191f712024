"""What decides a lesson's grades, hashed: the key under which a saved, signed result is reused.

A saved grade may be reused only while nothing that produced it has changed: the lesson's release,
the options, the bundled model, and every source file the judge of that lesson runs. Those files are
found by following the imports (the module graph, read statically from the sources) from the
lesson's checks module and from the grader's judging modules, so a helper module a lesson's judge
imports (``lesson5_loop``, ``lesson6_logprobs``…) is covered, and another lesson's checks are not:
editing lesson 4 does not throw away lesson 6's grades. Imports inside functions count too (a lazy
import is still code the judge may run), and so does ``importlib.import_module(f"pkg.{name}")``: every
module of ``pkg`` (the references ``pt`` and ``tf``), except for the lessons package, whose computed
import loads exactly the lesson being judged, a root here.
"""
from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]             # the folder holding course_utils/ and grader/
PACKAGES = ("course_utils", "grader")                  # first-party code; libraries are pinned by version
JUDGE_ROOTS = ("grader.pipeline.assemble", "grader.pipeline.grade_one", "grader.pipeline.results")
LESSONS_PACKAGE = "course_utils.lessons"


def module_path(name: str) -> Path | None:
    """The source file of a first-party module or package, or None (a library, or no such file)."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(name: str, path: Path) -> set[str]:
    """Every module ``path`` (the module ``name``) imports, absolute names, wherever the import is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            # ``from grader import sandbox`` imports a submodule when one of that name exists.
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and computed_import_package(node):
            found.update(package_modules(computed_import_package(node)))
    return found


def computed_import_package(call: ast.Call) -> str | None:
    """``pkg`` for ``importlib.import_module(f"pkg.{…}")``; None for any other call."""
    function = call.func
    if not (isinstance(function, ast.Attribute) and function.attr == "import_module" and call.args):
        return None
    name = call.args[0]
    if not (isinstance(name, ast.JoinedStr) and name.values and isinstance(name.values[0], ast.Constant)):
        return None
    prefix = str(name.values[0].value)
    package = prefix.rstrip(".")
    return package if prefix.endswith(".") and package != LESSONS_PACKAGE else None


def package_modules(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    return [f"{package}.{path.stem}" for path in sorted(folder.glob("*.py")) if path.stem != "__init__"]


def with_parents(name: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def judge_sources(lesson: str) -> list[Path]:
    """The first-party source files the judge of ``lesson`` imports, directly or not, sorted."""
    seen: dict[str, Path] = {}
    pending = [f"course_utils.lessons.{lesson}", *JUDGE_ROOTS]
    while pending:
        for name in with_parents(pending.pop()):
            path = module_path(name)
            if name in seen or path is None:
                continue
            seen[name] = path
            pending.extend(imported_names(name, path))
    return sorted(set(seen.values()))


def model_files() -> list[Path]:
    models = ROOT / "course_utils" / "models"
    return sorted([*models.rglob("*.safetensors"), *models.rglob("*.json")])


def fingerprint(lesson: str, release_text: str, options: dict) -> str:
    """A short hash of everything besides the submitted file that decides ``lesson``'s grades."""
    digest = hashlib.sha256(json.dumps([lesson, release_text, options], sort_keys=True).encode())
    for path in [*judge_sources(lesson), *model_files()]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
