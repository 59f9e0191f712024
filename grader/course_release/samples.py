"""Sample submissions, made from the release and the instructor's solutions.

``python -m grader.samples`` rewrites ``grader/samples/submissions/`` (what the demo grades);
the tests build the adversarial cases with the same helpers.
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

from course_utils.checking.nbgrader_cells import grade_id_of, is_answer_cell, without_markers
from grader.pipeline.files import write_atomically
from grader.course_release.release import SOURCE_DIR, dumps, generate

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples" / "submissions"


def solutions(lesson: str) -> dict[str, str]:
    """``{answer grade id: the instructor's solution code}`` (solution markers removed)."""
    source = nbformat.read(SOURCE_DIR / lesson / f"{lesson}.ipynb", as_version=4)
    answers = {}
    for cell in source.cells:
        if is_answer_cell(cell) and cell.cell_type == "code":
            answers[grade_id_of(cell)] = "\n".join(without_markers(cell.source))
    return answers


def answered(release, lesson: str, which=None, replace: dict | None = None):
    """The release with answer cells filled: the solution for grade ids in ``which`` (all if
    None), or the code given in ``replace`` ({grade id: code}); other answer cells stay stubs."""
    nb = copy.deepcopy(release)
    solved = solutions(lesson)
    for cell in nb.cells:
        gid = grade_id_of(cell)
        if replace and gid in replace:
            cell.source = replace[gid]
        elif gid in solved and (which is None or gid in which):
            cell.source = solved[gid]
    return nb


def replace_cell(nb, grade_id: str, source: str | None):
    """A copy of ``nb`` with the cell ``grade_id``'s code replaced (or the cell deleted if None)."""
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if grade_id_of(c) == grade_id)
    if source is None:
        del nb.cells[index]
    else:
        nb.cells[index].source = source
    return nb


def insert_after(nb, grade_id: str, source: str):
    """A copy of ``nb`` with a new code cell of the student's after cell ``grade_id``."""
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if grade_id_of(c) == grade_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


# What the demo grades: a small class, one of each kind an instructor meets. Ada answers every
# lesson completely (so every lesson's answer key is graded through the sandbox, whose kernels hold
# the course without its answer key); the others show what goes wrong, on lesson 1.
SAMPLE_LESSONS = tuple(f"lesson{k}" for k in range(1, 8))


def demo_submissions(releases: dict) -> dict[str, bytes]:
    """``{"<student>/<file>": bytes}``: complete (every lesson in ``releases``, answered with the
    sources' solutions), partial, blank, broken, cheating, wrong lesson (lesson 1 and 3 needed)."""
    lesson1, lesson3 = releases["lesson1"], releases["lesson3"]
    complete = answered(lesson1, "lesson1")
    cheat = answered(lesson1, "lesson1", which=(), replace={
        # A lying answer object, a patched checker and an edited test cell: none of it earns points.
        "lesson1_q1_answer": "class Anything(int):\n    def __eq__(self, other):\n        return True\n\n"
                             "vocab_size = Anything(7)",
        "lesson1_q2_answer": "import course_utils.checking.compare as compare\n"
                             "compare.mismatch = lambda *args, **kwargs: None   # 'everything matches'\n"
                             "subword_tokens = ['Tensor', 'Flow']"})
    cheat = replace_cell(cheat, "lesson1_q3", "print('Correct')  # the test cell, edited")
    text = {f"ada/{lesson}.ipynb": dumps(answered(release, lesson)) for lesson, release in releases.items()}
    text.update({
        "ben/lesson1.ipynb": dumps(answered(lesson1, "lesson1", which=("lesson1_q1_answer", "lesson1_q2_answer"))),
        "cy/lesson1.ipynb": dumps(lesson1),
        "dee/lesson1.ipynb": dumps(complete)[:5000],              # cut off mid-file: not valid JSON
        "eve/lesson1.ipynb": dumps(cheat),
        "fay/lesson1.ipynb": dumps(answered(lesson3, "lesson3")),  # lesson 3's notebook, saved as lesson 1
    })
    return {name: body.encode("utf-8") for name, body in text.items()}


def write_samples(out_dir: Path = SAMPLES_DIR) -> list[Path]:
    releases = generate(list(SAMPLE_LESSONS))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    for name, data in demo_submissions(releases).items():
        path = out_dir / name
        write_atomically(path, data.decode("utf-8"))
        written.append(path)
    return written
