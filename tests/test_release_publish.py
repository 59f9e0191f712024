"""``python -m grader release --pip-source SOURCE --repo URL``: a release to publish.

Each student notebook's install cell installs from SOURCE, its first cell carries "Open in Colab"
and "Open in Kaggle" links to that very notebook on the repository, nbgrader's checksums of the two
locked cells are rewritten (Validate still passes them), and the folder gets a README.md listing
the lessons. Without the flags the release is the plain one (tests/test_notebooks_clean.py).
"""
from __future__ import annotations

import nbformat
import pytest

from grader import cli
from grader.course_release import publish, release

pytest.importorskip("nbgrader")
REPO = "https://github.com/teacher/decoding-course"
WHEEL = "https://example.org/dist/decoding_course-0.1.0-py3-none-any.whl"


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    out = tmp_path_factory.mktemp("published")
    code = cli.main(["release", "lesson1", "--out", str(out), "--pip-source", WHEEL, "--repo", REPO,
                     "--branch", "fall-2026"])
    assert code == 0
    return out


def test_the_install_cell_installs_from_the_given_source(published):
    nb = nbformat.read(published / "lesson1.ipynb", as_version=4)
    install = _cell(nb, "install")
    assert f'os.environ.get("COURSE_PIP_SOURCE", "{WHEEL}")' in install.source
    assert "decoding-course" not in install.source
    plain = _cell(release.generate(["lesson1"])["lesson1"], "install").source
    assert install.source == plain.replace('"decoding-course"', f'"{WHEEL}"')


def test_the_first_cell_opens_this_notebook_in_colab_and_kaggle(published):
    nb = nbformat.read(published / "lesson1.ipynb", as_version=4)
    first = nb.cells[0].source.splitlines()
    blob = "teacher/decoding-course/blob/fall-2026/"
    assert f"(https://colab.research.google.com/github/{blob}" in first[0]
    assert f"(https://kaggle.com/kernels/welcome?src=https://github.com/{blob}" in first[0]
    assert first[0].count("lesson1.ipynb)") == 2 and first[0].count("[![Open In ") == 2
    assert first[2].startswith("# Lesson 1")


def test_nbgrader_checksums_match_the_published_cells(published):
    from nbgrader.utils import compute_checksum

    nb = nbformat.read(published / "lesson1.ipynb", as_version=4)
    for cell in (nb.cells[0], _cell(nb, "install")):
        assert cell.metadata["nbgrader"]["checksum"] == compute_checksum(cell)


def test_the_index_lists_each_lesson_with_its_links(published):
    index = (published / "README.md").read_text()
    assert "[Lesson 1 — Tokenization and encoding](lesson1.ipynb)" in index
    assert index.count("colab.research.google.com/github/teacher/decoding-course/blob/fall-2026/") == 1
    assert f"pip install {WHEEL}" in index


def test_a_published_release_is_up_to_date_with_its_own_options(published):
    nb = nbformat.read(published / "lesson1.ipynb", as_version=4)
    assert publish.options_of(nb) == {"pip_source": WHEEL, "repo": REPO, "branch": "fall-2026"}
    fresh = release._published(release.generate(["lesson1"])["lesson1"], "lesson1", published, publish.options_of(nb))
    assert (published / "lesson1.ipynb").read_text(encoding="utf-8") == release.dumps(fresh)


def test_repo_alone_installs_from_that_branch_and_other_hosts_are_refused(tmp_path, capsys):
    assert publish.default_pip_source(REPO + ".git", "main") == "git+https://github.com/teacher/decoding-course@main"
    assert cli.main(["release", "lesson1", "--out", str(tmp_path), "--repo", "https://gitlab.com/a/b"]) == 2
    assert "GitHub repository URL" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_pip_source_with_quotes_stays_one_python_string():
    nb = release.generate(["lesson1"])["lesson1"]
    odd = 'decoding-course[tf] @ file:///tmp/a "b"'
    out = publish.apply(nb, {"pip_source": odd}, "notebooks/lesson1.ipynb")
    line = next(l for l in _cell(out, "install").source.splitlines() if "COURSE_PIP_SOURCE\", " in l)
    namespace = {"os": __import__("os")}
    exec(line.strip().replace("COURSE_PIP_SOURCE = ", "value = "), namespace)  # noqa: S102
    assert namespace["value"] == odd or "COURSE_PIP_SOURCE" in __import__("os").environ
    assert nb.cells[0].source == out.cells[0].source      # no --repo: no links
