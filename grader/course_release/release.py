"""Student notebooks from the instructor's sources, by nbgrader's own ``generate_assignment``.

The sources live in an nbgrader course layout (``grader/course/source/<lesson>/<lesson>.ipynb``).
nbgrader runs in a throw-away copy of that layout, so its gradebook and ``release/`` folder never
litter the repository; what comes out is one student notebook per lesson, written atomically.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from grader.pipeline.files import write_atomically

REPO = Path(__file__).resolve().parents[2]
COURSE_ROOT = Path(__file__).resolve().parents[1] / "course"
SOURCE_DIR = COURSE_ROOT / "source"
NOTEBOOKS_DIR = REPO / "notebooks"

# A function stub that returns None, so the check after it says "Not attempted" instead of the
# run stopping at nbgrader's default `raise NotImplementedError()`.
CODE_STUB = "# YOUR CODE HERE\npass"


def short_title(lesson: str) -> str:
    """"Lesson 1" for ``lesson1`` (a name that is no lesson's stays as it is)."""
    return lesson.replace("lesson", "Lesson ", 1) if lesson.startswith("lesson") else lesson


def lessons(source_dir: Path = SOURCE_DIR) -> list[str]:
    """The lesson ids with a source notebook, in course order."""
    return sorted(p.name for p in source_dir.iterdir() if (p / f"{p.name}.ipynb").is_file())


def generate(lesson_ids: list[str] | None = None, source_dir: Path = SOURCE_DIR) -> dict[str, nbformat.NotebookNode]:
    """Run nbgrader ``generate_assignment`` on each lesson; returns ``{lesson: student notebook}``."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    lesson_ids = lesson_ids or lessons(source_dir)
    released = {}
    with tempfile.TemporaryDirectory(prefix="course-release-") as root, interpreter_tools_on_path(), \
            gradebook_version_in_process():
        config = Config()
        config.CourseDirectory.root = root
        config.ClearSolutions.code_stub = {"python": CODE_STUB}
        config.Exchange.assignment_dir = root
        api = NbGraderAPI(config=config)
        for lesson in lesson_ids:
            source = source_dir / lesson / f"{lesson}.ipynb"
            if not source.is_file():
                raise FileNotFoundError(f"no source notebook for {lesson!r} at {source}")
            shutil.copytree(source.parent, Path(root) / "source" / lesson)
            result = api.generate_assignment(lesson, force=True, create=True)
            if not result["success"]:
                # nbgrader's own error says "see the above traceback": the cause is in its log.
                details = "\n".join(part for part in (result.get("log"), result.get("error")) if part)
                raise RuntimeError(f"nbgrader generate_assignment failed for {lesson}:\n{details}")
            released[lesson] = nbformat.read(Path(root) / "release" / lesson / f"{lesson}.ipynb", as_version=4)
    return released


@contextlib.contextmanager
def gradebook_version_in_process():
    """While nbgrader runs: its new gradebook's schema version read in this process.

    nbgrader starts the ``alembic`` command (a whole interpreter: about 2.4 s of CPU, as much as
    the rest of a release) only to read that constant, once per release, which every batch of the
    grader makes. ``alembic``'s own ``ScriptDirectory`` reads the same head from nbgrader's
    migration scripts in 0.1 s. Where that fails, nbgrader's own way runs."""
    import nbgrader
    import nbgrader.api

    original = nbgrader.api.get_alembic_version
    try:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(os.path.join(os.path.dirname(nbgrader.__file__), "alembic")).get_current_head()
    except Exception:  # noqa: BLE001 - an nbgrader laid out otherwise: its own subprocess then
        head = None
    if head:
        nbgrader.api.get_alembic_version = lambda: head
    try:
        yield
    finally:
        nbgrader.api.get_alembic_version = original


@contextlib.contextmanager
def interpreter_tools_on_path():
    """This interpreter's scripts folder first on ``PATH`` while nbgrader runs.

    nbgrader starts the ``alembic`` executable found on ``PATH`` to create its gradebook. Run
    without an activated environment (``.venv/bin/python -m grader``, a cron job, a cluster
    worker), ``PATH`` holds no ``alembic`` or another environment's, and the release fails.
    """
    scripts = str(Path(sys.executable).parent)
    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = scripts + os.pathsep + saved
    try:
        yield
    finally:
        os.environ["PATH"] = saved


def dumps(nb: nbformat.NotebookNode) -> str:
    """The notebook's file text, byte-for-byte stable (what the sync test compares)."""
    return nbformat.writes(nb) + "\n"


def release(lesson_ids: list[str] | None = None, out_dir: Path = NOTEBOOKS_DIR, publishing=None) -> list[Path]:
    """Write the student notebooks ``out_dir/<lesson>.ipynb``; returns their paths.

    ``publishing`` (a ``Publishing``, or its dict: ``grader.course_release.publish``) makes a release to
    publish: the install cell's source and "Open in Colab/Kaggle" links, and, with a ``repo``, an
    index ``out_dir/README.md`` listing the lessons. Without it the release is the plain one."""
    from grader.course_release import publish

    publishing = publish.Publishing.from_dict(publishing)
    notebooks = {lesson: _published(nb, lesson, out_dir, publishing) for lesson, nb in generate(lesson_ids).items()}
    written = []
    for lesson, nb in notebooks.items():
        path = Path(out_dir) / f"{lesson}.ipynb"
        write_atomically(path, dumps(nb))
        written.append(path)
    if publishing.repo:
        path = Path(out_dir) / "README.md"
        write_atomically(path, publish.index(notebooks, publishing, _repo_folder(out_dir)))
        written.append(path)
    return written


def _repo_folder(out_dir: Path) -> str:
    """``out_dir`` as a path in the repository (what the Colab and Kaggle links point into)."""
    out_dir = Path(out_dir).resolve()
    try:
        return out_dir.relative_to(REPO).as_posix()
    except ValueError:   # released outside this checkout: assume it is committed as a top-level folder
        return out_dir.name


def _published(nb, lesson: str, out_dir: Path, publishing):
    from grader.course_release import publish

    if publish.Publishing.from_dict(publishing) == publish.Publishing():   # a plain release
        return nb
    return publish.apply(nb, publishing, f"{_repo_folder(out_dir)}/{lesson}.ipynb")


def out_of_sync(out_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """Lessons whose student notebook in ``out_dir`` differs from a fresh release (or is missing);
    a published one is compared with a release made with the options it records."""
    from grader.course_release import publish

    stale = []
    for lesson, nb in generate().items():
        path = Path(out_dir) / f"{lesson}.ipynb"
        if not path.is_file():
            stale.append(lesson)
            continue
        text = path.read_text(encoding="utf-8")
        options = publish.options_of(nbformat.reads(text, as_version=4))
        if text != dumps(_published(nb, lesson, out_dir, options)):
            stale.append(lesson)
    return stale
