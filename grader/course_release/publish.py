"""A release made for publishing: where the notebooks' first cell installs the course from, and
"Open in Colab" / "Open in Kaggle" links to each lesson on the repository that hosts them.

``python -m grader release --pip-source SOURCE --repo https://github.com/OWNER/REPO [--branch B]``
rewrites, in every student notebook, the default of ``COURSE_PIP_SOURCE`` in the install cell, and
puts a line of badges at the top of the lesson's first cell; ``index()`` is the folder's README.md
listing the lessons with the same links. Both platforms open a notebook straight from a public
GitHub repository: Colab by ``colab.research.google.com/github/OWNER/REPO/blob/BRANCH/PATH``, Kaggle
by ``kaggle.com/kernels/welcome?src=<the file's GitHub URL>``.

The options are recorded in the notebook's metadata (``course_publish``), so ``release --check`` and
the sync test regenerate a published release with the same options.
"""
from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass

from course_utils.checking.nbgrader_cells import grade_id_of, nbgrader_meta

METADATA_KEY = "course_publish"
SOURCES_PIP_SOURCE = "decoding-course"   # what the sources' install cell installs unless told otherwise
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
KAGGLE_BADGE = "https://kaggle.com/static/images/open-in-kaggle.svg"
# The install cell's default source (grader/course/source/*/: the cell with grade_id "install").
INSTALL_DEFAULT = re.compile(r'(os\.environ\.get\("COURSE_PIP_SOURCE", )("(?:[^"\\]|\\.)*")(\))')
GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")


@dataclass(frozen=True)
class Publishing:
    """The options of a release to publish, with their defaults (one place): what the install cell
    installs (``None``: the package the sources name), the GitHub repository the links point to
    (``None``: no links) and its branch. Between processes and in a notebook's metadata it is the
    plain dict of ``to_dict`` (the options that are set)."""

    pip_source: str | None = None
    repo: str | None = None
    branch: str = "main"

    @classmethod
    def from_dict(cls, options: Publishing | dict | None) -> Publishing:
        if isinstance(options, Publishing):
            return options
        return cls(**{key: value for key, value in (options or {}).items() if value})

    def to_dict(self) -> dict:
        """The options that are set (a branch only with a repository: it names the links' branch)."""
        return {key: value for key, value in dataclasses.asdict(self).items()
                if value and (key != "branch" or self.repo)}


def github_repo(url: str) -> str:
    """``OWNER/REPO`` of a GitHub repository URL; ``ValueError`` for anything else (Colab and Kaggle
    open notebooks from public GitHub repositories only)."""
    match = GITHUB.match(url.strip())
    if not match:
        raise ValueError(f"--repo must be a GitHub repository URL, https://github.com/OWNER/REPO (got {url!r})")
    return f"{match[1]}/{match[2]}"


def default_pip_source(repo: str, branch: str) -> str:
    """What students install when only ``--repo`` is given: the package from that branch."""
    return f"git+https://github.com/{github_repo(repo)}@{branch}"


def links(repo: str, branch: str, path: str) -> dict[str, str]:
    """``{"Colab": url, "Kaggle": url}`` opening the notebook at ``path`` (relative to the repository)."""
    blob = f"https://github.com/{github_repo(repo)}/blob/{branch}/{path}"
    return {"Colab": f"https://colab.research.google.com/github/{github_repo(repo)}/blob/{branch}/{path}",
            "Kaggle": f"https://kaggle.com/kernels/welcome?src={blob}"}


def badges(repo: str, branch: str, path: str) -> str:
    """One Markdown line: the two platforms' "Open in" badges, each a link to the notebook."""
    urls = links(repo, branch, path)
    return (f"[![Open In Colab]({COLAB_BADGE})]({urls['Colab']}) "
            f"[![Open In Kaggle]({KAGGLE_BADGE})]({urls['Kaggle']})")


def apply(nb, options: Publishing | dict, path: str):
    """A copy of student notebook ``nb`` published with ``options`` (``Publishing``); ``path`` is
    the notebook's path in the repository, for the links."""
    from nbgrader.utils import compute_checksum

    options = Publishing.from_dict(options)
    nb = copy.deepcopy(nb)
    changed = []
    if options.pip_source:
        install = next(c for c in nb.cells if grade_id_of(c) == "install")
        source, count = INSTALL_DEFAULT.subn(lambda m: m[1] + _python_string(options.pip_source) + m[3],
                                             install.source)
        if count != 1:
            raise ValueError("the install cell has no COURSE_PIP_SOURCE default to rewrite")
        install.source = source
        changed.append(install)
    if options.repo:
        first = nb.cells[0]
        first.source = badges(options.repo, options.branch, path) + "\n\n" + first.source
        changed.append(first)
    for cell in changed:  # nbgrader's Validate compares locked cells with these checksums
        meta = nbgrader_meta(cell)
        if "checksum" in meta:
            meta["checksum"] = compute_checksum(cell)
    nb.metadata[METADATA_KEY] = options.to_dict()
    return nb


def options_of(nb) -> dict:
    """The publishing options a released notebook was written with (``{}`` for a plain release)."""
    return dict(nb.metadata.get(METADATA_KEY, {}))


def title(nb) -> str:
    """The lesson's title: the first Markdown heading of its notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def index(notebooks: dict, options: Publishing | dict, folder: str) -> str:
    """The README.md of the published folder: each lesson with its title and its two links."""
    options = Publishing.from_dict(options)
    repo, branch = options.repo, options.branch
    rows = []
    for lesson, nb in notebooks.items():
        urls = links(repo, branch, f"{folder}/{lesson}.ipynb")
        rows.append(f"| [{title(nb) or lesson}]({lesson}.ipynb) | [![Open In Colab]({COLAB_BADGE})]({urls['Colab']}) "
                    f"| [![Open In Kaggle]({KAGGLE_BADGE})]({urls['Kaggle']}) |")
    source = options.pip_source or SOURCES_PIP_SOURCE
    return "\n".join([
        "# How language models generate text: the lessons", "",
        "Open a lesson in Colab or Kaggle and run its cells in order. The first cell installs the course's",
        f"package (`pip install {source}`) when it is missing; it changes none of the platform's torch,",
        "transformers or TensorFlow and needs no restart. On Kaggle, turn the notebook's Internet on first.", "",
        "| lesson | Colab | Kaggle |", "|---|---|---|", *rows, "",
        "<!-- generated by `python -m grader release --repo ...`: edit the sources, not this file -->", ""])


def _python_string(text: str) -> str:
    """``text`` as a double-quoted Python literal (the install cell's style)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
