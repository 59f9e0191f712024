"""The docs match the code (issue 20, item 6): docs/ARCHITECTURE.md's module map names every module
of ``course_utils`` and ``grader`` and no module that is gone; the README or the docs name every
``python -m grader`` command; the table of bubblewrap flags names every flag the sandbox emits, each
with what a forked kernel does instead.

The map is the first fenced block of ARCHITECTURE.md: a folder line (``checking/``) holds the lines
indented under it; a module is named by its file name, alone or with its folder
(``reference/pt.py``), several to a line if need be (``value.py function.py``); ``lessonN.py`` stands
for every ``lesson<digits>.py`` of its folder.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("course_utils", "grader")
MODULE_TOKEN = re.compile(r"[\w./-]*\.py\b")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def module_map() -> str:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    match = re.search(r"```\n(.*?)```", text, re.S)
    assert match, "docs/ARCHITECTURE.md has no module map (a fenced block at its top)"
    return match.group(1)


def mapped_modules() -> set[str]:
    """Paths from the repository root (``course_utils/checking/value.py``) that the map names."""
    named, folders = set(), []          # folders: (indent, path) of the folder lines still open
    for line in module_map().splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while folders and folders[-1][0] >= indent:
            folders.pop()
        first = line.split()[0]
        if first.endswith("/"):   # a folder: what its line and the lines under it name is inside it
            folders.append((indent, (folders[-1][1] if folders else "") + first))
        parent = folders[-1][1] if folders else ""
        for token in MODULE_TOKEN.findall(line):
            named.add(parent + token.lstrip("./"))
    return named


def package_modules() -> set[str]:
    return {str(path.relative_to(ROOT)) for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            if not path.name.startswith("__") and "__pycache__" not in path.parts}


def is_named(module: str, named: set[str]) -> bool:
    pattern = re.sub(r"lesson\d+", "lessonN", module)  # lessonN.py stands for each lesson's module
    return module in named or pattern in named


def test_every_module_is_in_the_architecture_map():
    named = mapped_modules()
    missing = sorted(m for m in package_modules() if not is_named(m, named))
    assert not missing, ("docs/ARCHITECTURE.md's module map does not name these modules (add each under its "
                         "folder, with what it is for): " + ", ".join(missing))


def test_the_architecture_map_names_no_module_that_is_gone():
    modules = package_modules()
    patterns = {re.sub(r"lesson\d+", "lessonN", m) for m in modules}
    gone = sorted(m for m in mapped_modules()
                  if m.startswith(tuple(p + "/" for p in PACKAGES)) and m not in modules and m not in patterns)
    assert not gone, "docs/ARCHITECTURE.md's module map names modules that do not exist: " + ", ".join(gone)


def grader_commands() -> list[str]:
    """The subcommands of ``python -m grader``, as its parser lists them in its usage line."""
    from grader import cli

    usage = io.StringIO()
    with contextlib.redirect_stdout(usage), pytest.raises(SystemExit):
        cli.main(["--help"])
    choices = re.search(r"\{([\w,-]+)\}", usage.getvalue())
    assert choices, usage.getvalue()
    return choices.group(1).split(",")


def test_every_grader_command_is_named_in_the_readme_or_docs():
    docs = "\n".join(path.read_text(encoding="utf-8") for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    commands = grader_commands()
    assert {"release", "autograde", "demo"} <= set(commands)
    missing = [c for c in commands if not re.search(rf"python -m grader {re.escape(c)}\b", docs)]
    assert not missing, f"no `python -m grader COMMAND` in README.md or docs/ for: {', '.join(missing)}"


def flag_table() -> dict[str, str]:
    """``{flag: the forked kernel's equivalent}`` from ARCHITECTURE.md's bubblewrap table."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = re.search(r"<!-- bwrap flags -->\n(.*?)\n\n", text, re.S)
    assert section, "docs/ARCHITECTURE.md has no table of bubblewrap flags (after <!-- bwrap flags -->)"
    table = {}
    for row in section.group(1).splitlines()[2:]:   # after the header and its rule
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        for flag in FLAG.findall(cells[0]):
            table[flag] = cells[-1]
    return table


def emitted_flags(monkeypatch, tmp_path) -> set[str]:
    """Every option the sandbox's launch line can carry: fresh kernel and template, with and without
    the network, each of bwrap's variants, a hidden folder and file, a folder bound back inside one."""
    from grader.sandbox import bwrap
    from grader.options import GradingOptions

    hidden_dir, hidden_file = tmp_path / "hidden", tmp_path / "secret"
    (hidden_dir / "needed").mkdir(parents=True)
    hidden_file.write_text("")
    monkeypatch.setattr(bwrap, "needed_paths", lambda model="course": [str(hidden_dir / "needed")])
    monkeypatch.setattr(bwrap, "host_uid", lambda: 100_001)   # as when the grader runs as root
    found = set()
    for template in (False, True):
        for network in ("auto", "allow"):
            for flags in [(), ("disable-userns",), ("drop-uid", "disable-userns")]:
                launcher, args = bwrap.launch(str(tmp_path / "run"), {"PATH": "/usr/bin"},
                                              [str(hidden_dir), str(hidden_file)], GradingOptions(network=network),
                                              flags, template=template)
                found |= {arg.split("=")[0] for arg in launcher + args if FLAG.fullmatch(arg.split("=")[0])}
    # bwrap reads those options from a descriptor (--args FD), named where the kernels start.
    sources = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "grader").rglob("*.py"))
    return found | set(re.findall(r"[\"'](--args)[\"']", sources))


def test_every_bubblewrap_flag_has_its_forked_kernel_equivalent(monkeypatch, tmp_path):
    table = flag_table()
    emitted = emitted_flags(monkeypatch, tmp_path)
    assert {"--unshare-all", "--cap-drop", "--ro-bind", "--tmpfs", "--args", "--reuid"} <= emitted
    missing = sorted(emitted - set(table))
    assert not missing, ("docs/ARCHITECTURE.md's bubblewrap table lacks these flags (add each, with the "
                         "system call or step that does the same in a forked kernel): " + ", ".join(missing))
    unexplained = sorted(flag for flag, fork in table.items() if len(fork) < 10)
    assert not unexplained, f"no forked-kernel equivalent given for: {', '.join(unexplained)}"
    stale = sorted(set(table) - emitted)
    assert not stale, f"the bubblewrap table names flags the sandbox no longer emits: {', '.join(stale)}"
