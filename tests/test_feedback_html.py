"""The feedback page reads well and stays inert: exercises named as the notebook names them,
plain words instead of status codes, Markdown rendered without any HTML of its own, nothing
loaded from anywhere."""
from __future__ import annotations

import re

import nbformat
import pytest

from grader.reports import feedback_html, maths
from grader.course_release.release import SOURCE_DIR, lessons

ATTACK = "<script>alert(1)</script> <img src=x onerror=alert(2)>"
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "h5", "h6", "p", "div",
                "span", "b", "br", "code", "pre", "em", "strong", "ul", "ol", "li", "blockquote", "hr", "table",
                "thead", "tbody", "tr", "th", "td", "img", "a"} | set(maths.ELEMENTS)


def _tags(page):
    """Every real start tag of the page with its attributes (escaped text is not a tag)."""
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, [(name, value or "") for name, value in attrs]))

    Collect().feed(page)
    return found


@pytest.fixture
def source_dir(tmp_path):
    """A one-lesson course: a title, two exercises (one titled with code), their test cells."""
    nb = nbformat.v4.new_notebook()

    def graded(gid, source):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": gid, "points": 1}
        return cell

    nb.cells = [nbformat.v4.new_markdown_cell("# Lesson 9 — Made up\n\nIntro."),
                nbformat.v4.new_markdown_cell("## 1. Section\n\n### Exercise 1: count the `tokens`"),
                nbformat.v4.new_code_cell("x = 1"), graded("lesson9_q1", "q1.grade()"),
                nbformat.v4.new_markdown_cell("### Not an exercise heading"),
                nbformat.v4.new_markdown_cell("### Puzzle 1 (`q7`): a riddle"), graded("lesson9_q7", "q7.grade()")]
    (tmp_path / "lesson9").mkdir()
    nbformat.write(nb, tmp_path / "lesson9" / "lesson9.ipynb")
    return tmp_path


def _problem(gid, status="Incorrect", message="", score=0.0, reached=True):
    return {"grade_id": gid, "problem": gid.replace("_", "."), "max_score": 1.0, "score": score,
            "reached": reached, "status": status, "message": message}


def _row(status="graded", reason="", student="ada"):
    return {"student_id": student, "notebook": "lesson9", "score": 1, "max_score": 2, "status": status,
            "reason": reason}


def _cells(ran=4):
    """Code cells numbered as nbclient numbers them: the first ``ran`` were started."""
    cells = [nbformat.v4.new_markdown_cell("# Lesson 9"), *(nbformat.v4.new_code_cell(f"c{i}") for i in range(6))]
    for i, cell in enumerate(cells[1:ran + 1]):
        cell.execution_count = i + 1
    return cells


def test_exercises_are_named_as_the_notebook_names_them(source_dir):
    title, titles = feedback_html.headings("lesson9", source_dir)
    assert title == "Lesson 9 — Made up"
    assert titles == {"lesson9_q1": "Exercise 1: count the `tokens`", "lesson9_q7": "Puzzle 1 (`q7`): a riddle"}
    problems = [_problem("lesson9_q1", "Correct", score=1.0), _problem("lesson9_q7")]
    cells = [nbformat.v4.new_code_cell("q1.grade()"), nbformat.v4.new_code_cell("q7.grade()")]
    page = feedback_html.page(_row(), problems, cells, {0: problems[0], 1: problems[1]}, source_dir=source_dir)
    assert "Exercise 1: count the <code>tokens</code>" in page and "Puzzle 1 (<code>q7</code>): a riddle" in page
    assert '<span class="name">(<code>q1</code>)</span>' in page          # the name the notebook's cells use
    assert '<h1 id="top">Lesson 9 — Made up</h1>' in page
    assert re.search(r"<title>[^<]*Lesson 9[^<]*ada[^<]*</title>", page)   # titled with lesson and student
    assert "lesson9.q1" not in page


def test_the_name_is_the_declared_one():
    assert feedback_html.declared_name("lesson1.q1") == "q1"          # lesson1.py declares it
    assert feedback_html.declared_name("lesson9.q2") == "q2"          # no such lesson: the id's last part


def test_every_test_cell_of_the_course_has_its_exercise_title():
    for lesson in lessons():
        source = nbformat.read(SOURCE_DIR / lesson / f"{lesson}.ipynb", as_version=4)
        tests = [c.metadata.nbgrader.grade_id for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
        titles = feedback_html.exercise_titles(lesson)
        assert sorted(titles) == sorted(tests), lesson
        assert all(re.match(r"(Exercise|Puzzle) \d", t) for t in titles.values()), titles
        assert feedback_html.lesson_title(lesson).startswith(f"Lesson {lesson[len('lesson'):]}")
    assert feedback_html.exercise_titles("lesson1")["lesson1_q1"].startswith("Exercise 1:")


@pytest.mark.parametrize("status, says", [
    ("graded", "ran from start to end"),
    ("timeout", "ran past its time limit, so the grader stopped it at cell 5."),
    ("oom", "more memory than the grader allows, so the grader stopped it at cell 5."),
    ("crash", "stopped unexpectedly at cell 5:"),
    ("invalid", "could not read this file as a notebook"),
    ("wrong_lesson", "holds the exercises of another lesson"),
    ("error", "This is not your fault"),
])
def test_statuses_are_said_in_plain_words(source_dir, status, says):
    problems = [_problem("lesson9_q1", "Correct", score=1.0), _problem("lesson9_q7", "Not run", reached=False)]
    page = feedback_html.page(_row(status, reason="a cell ran past 15 s"), problems, _cells(ran=4),
                              source_dir=source_dir)
    assert says in page
    assert f"<code>{status}</code>" not in page and f"status {status}" not in page
    assert ("Note" if status == "graded" else "Details") + ": a cell ran past 15 s" in page
    if status in feedback_html.STOPPED:
        assert "reached 1 of the 2 exercises" in page
        assert page.index('id="cell-5"') < page.index("The grader stopped your notebook here")
        assert page.count("The grader stopped your notebook here") == 1


def test_an_explicit_stopped_cell_wins_over_the_guess(source_dir):
    page = feedback_html.page(_row("timeout"), [], _cells(ran=4), stopped_at=2, source_dir=source_dir)
    assert "stopped it at cell 3." in page
    assert feedback_html.stopped_cell(_cells(ran=0)) is None


def test_messages_render_code_and_nothing_else(source_dir):
    message = f"compare `x<y>` with `len(ids)`, not **bold**\nsecond line {ATTACK}"
    problems = [_problem("lesson9_q1", message=message)]
    page = feedback_html.page(_row(reason=f"locked cell `lesson9_q1` was edited {ATTACK}"), problems,
                              [nbformat.v4.new_code_cell("q1.grade()")], {0: problems[0]}, source_dir=source_dir)
    assert "<code>x&lt;y&gt;</code>" in page and "<code>len(ids)</code>" in page and "**bold**<br>second" in page
    assert "Note: locked cell <code>lesson9_q1</code> was edited" in page
    for tag in ("<script", "<img", "<strong"):
        assert tag not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_markdown_cells_are_rendered_without_html_links_or_images(source_dir):
    cells = [nbformat.v4.new_markdown_cell(f"## My notes\n\nsome `code` and **bold** {ATTACK}\n\n"
                                           "![pic](http://example.com/p.png) [link](https://example.com) "
                                           "<https://example.com> [ref]\n\n[ref]: https://example.com\n\n"
                                           "| a | b |\n|---|---|\n| 1 | 2 |")]
    page = feedback_html.page(_row(student=ATTACK), [], cells, source_dir=source_dir)
    assert "<h2>My notes</h2>" in page and "<code>code</code>" in page and "<strong>bold</strong>" in page
    assert "<table>" in page and "<td>1</td>" in page
    assert {tag for tag, _ in _tags(page)} <= ALLOWED_TAGS - {"img"}
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_the_page_loads_nothing_from_anywhere(source_dir):
    import base64

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    cells = [nbformat.v4.new_markdown_cell("![x](https://cdn.example/x.png) <link href='https://x/y.css'>"),
             nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("display_data", data={"image/png": png}),
                                                    nbformat.v4.new_output("display_data", data={
                                                        "text/html": "<script src='https://cdn.example/a.js'>",
                                                        "text/plain": "plain"})])]
    problems = [_problem("lesson9_q1", message="see https://example.com")]
    page = feedback_html.page(_row("timeout"), problems, cells, source_dir=source_dir)
    tags = _tags(page)
    refs = [value for _, attrs in tags for name, value in attrs if name in ("src", "href")]
    assert refs and all(ref.startswith(("data:image/png;base64,", "#")) for ref in refs), refs
    assert {tag for tag, _ in tags} <= ALLOWED_TAGS, {tag for tag, _ in tags} - ALLOWED_TAGS
    assert not any(name.startswith("on") for _, attrs in tags for name, _ in attrs)
    for loader in ("@import", "url(", "@font-face", "<link", "<base"):
        assert loader not in page.lower()
    assert "default-src 'none'" in page


def _links(page) -> list[str]:
    return [value for tag, attrs in _tags(page) if tag == "a" for name, value in attrs if name == "href"]


def test_the_summary_links_each_graded_cell_and_each_verdict_links_back(source_dir):
    problems = [_problem("lesson9_q1"), _problem("lesson9_q7", "Correct", score=1.0)]
    cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("q1.grade()"),
             nbformat.v4.new_code_cell("y = 2"), nbformat.v4.new_code_cell("q7.grade()")]
    page = feedback_html.page(_row(), problems, cells, {1: problems[0], 3: problems[1]}, source_dir=source_dir)
    links = _links(page)
    assert links[:2] == ["#cell-2", "#cell-4"] and links.count("#top") == 2
    assert 'id="top"' in page and 'id="cell-2"' in page and 'id="cell-4"' in page


def test_a_verdict_keeps_the_checkers_picture_re_encoded():
    import base64

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    shown = feedback_html.verdict_html({**_problem("lesson9_q1"), "figure": "\n".join(
        [base64.b64encode(png).decode()[:10], base64.b64encode(png).decode()[10:]])})
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in shown
    forged = feedback_html.verdict_html({**_problem("lesson9_q1"), "figure": base64.b64encode(b"<svg>").decode()})
    assert "<img" not in forged


def test_maths_is_mathml_made_here_with_no_dollars_and_no_markup_of_the_students():
    page = feedback_html.markdown("Softmax: $$p_i = \\frac{e^{x_i}}{\\sum_j e^{x_j}}$$ and $h_t$ inline, "
                                  "`$not maths$` in code, $\\text{<script>alert(1)</script>}$, "
                                  "$\\href{javascript:alert(2)}{x}$, and it costs 5 $ only.")
    assert page.count("<math") == 4 and '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in page
    assert "<mfrac>" in page and "<msub><mi>h</mi><mi>t</mi></msub>" in page
    assert "<code>$not maths$</code>" in page and "$$" not in page and "costs 5 $ only" in page
    tags = _tags(page)
    assert {tag for tag, _ in tags} <= ALLOWED_TAGS and "script" not in {tag for tag, _ in tags}
    assert "javascript" not in page and "<script" not in page and "alert(1)" in page


def test_every_formula_of_the_course_converts():
    """Each lesson's Markdown: no ``$`` left outside code once rendered, and no formula shown as LaTeX."""
    for lesson in lessons():
        for cell in nbformat.read(SOURCE_DIR / lesson / f"{lesson}.ipynb", as_version=4).cells:
            if cell.cell_type == "markdown" and "$" in cell.source:
                rendered = re.sub(r"<code>.*?</code>", "", feedback_html.markdown(cell.source), flags=re.S)
                assert "$" not in rendered and "\\" not in rendered, (lesson, cell.source[:200])


def test_a_look_alike_file_name_is_shown_escaped(source_dir):
    name = "lesson1\u200b\x1b[0m"
    page = feedback_html.page({**_row("invalid", f"{name}.ipynb is not a lesson of this batch"), "notebook": name},
                              [], None, source_dir=source_dir)
    assert "lesson1\\u200b\\x1b[0m" in page and "\u200b" not in page and "\x1b" not in page
