"""What a student sees: a student notebook opened in JupyterLab, in a real browser.

Playwright drives the system's Chromium (Debian's ``chromium``; Playwright's own browser download
is not used). JupyterLab serves a copy of ``notebooks/lesson1.ipynb`` on localhost; the test runs
every cell, answers exercise 1 wrongly and then rightly, and reads the verdicts as they are drawn:
the words, their colour, and the hint the wrong answer names. Skipped, saying why, where Playwright
or Chromium cannot be had.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
TOKEN = "course-browser-test"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on localhost serving a fresh copy of lesson 1: its URL."""
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install '.[grader]')")
    folder = tmp_path_factory.mktemp("lab")
    shutil.copy(os.path.join(ROOT, "notebooks", "lesson1.ipynb"), folder / "lesson1.ipynb")
    nbformat = pytest.importorskip("nbformat")
    sliders = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import course_utils\nfrom course_utils import load_model, load_tokenizer\n"
        "from course_utils.explore import explore_sampling\n"
        "explore_sampling(load_model('pt'), load_tokenizer(), 'The weather today is')")])
    sliders.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(sliders, folder / "sliders.ipynb")
    wrong = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in [
        "import torch\nfrom course_utils import load_model, load_tokenizer\n"
        "from course_utils.lessons.lesson3 import *\nmodel, tokenizer = load_model('pt'), load_tokenizer()",
        "def next_token_distribution(model, input_ids, attention_mask):   # the logits, not yet probabilities\n"
        "    last = attention_mask.sum(dim=-1) - 1\n"
        "    with torch.no_grad():\n        return model(input_ids).logits[torch.arange(len(last)), last]",
        "q3.check()"]])
    wrong.metadata["kernelspec"] = sliders.metadata["kernelspec"]
    nbformat.write(wrong, folder / "figure.ipynb")
    # Draw every cell, not only those on screen (JupyterLab 4's default "windowing"), so that the
    # test can read any cell's output; and no notices popping up over the notebook.
    settings = folder / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    notices = folder / "settings" / "@jupyterlab" / "apputils-extension"
    notices.mkdir(parents=True)
    (notices / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port = _free_port()
    env = {**os.environ, "COURSE_MODEL": "course", "HF_HUB_OFFLINE": "1", "JUPYTER_CONFIG_DIR": str(folder / ".cfg"),
           "JUPYTER_RUNTIME_DIR": str(folder / ".runtime")}
    # --allow-root: sessions and CI run as root, where JupyterLab otherwise refuses to start.
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}",
         f"--LabApp.user_settings_dir={folder / 'settings'}", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("JupyterLab did not start: " + (folder / "server.log").read_text()[-2000:])
            time.sleep(0.5)
    yield url
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture
def page(lab):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install '.[dev]')")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set COURSE_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        yield page
        browser.close()


def _open(page, lab, notebook: str):
    """Open ``notebook`` alone in a fresh workspace (``reset``: no tab of an earlier test comes back)."""
    page.goto(f"{lab}/lab/tree/{notebook}?token={TOKEN}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    _wait_idle(page)


def _wait_idle(page):
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-Toolbar-kernelStatus');"
        " return !s || !/busy|starting|connecting/i.test(s.getAttribute('data-status') || s.title || ''); }")
    page.wait_for_timeout(500)


def _run_all(page):
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


def _cell_with(page, text: str):
    """The notebook cell whose source contains ``text``."""
    return page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=text)).first


def _answer_and_check(page, answer_marker: str, new_source: str, check_marker: str):
    """Replace the answer cell's source, run it, run the check cell: the verdict's element."""
    cell = _cell_with(page, answer_marker)
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(new_source)
    page.keyboard.press("Shift+Enter")
    check = _cell_with(page, check_marker)
    check.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    verdict = check.locator(".jp-OutputArea-output span[style*='font-weight']").first
    verdict.wait_for()
    return check, verdict


def _colour(locator) -> tuple[int, int, int]:
    rgb = locator.evaluate("e => getComputedStyle(e).color")
    return tuple(int(v) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])


def test_student_runs_lesson1_answers_wrongly_then_rightly(lab, page, tmp_path):
    _open(page, lab, "lesson1.ipynb")
    try:
        _student_session(page)
    finally:
        page.screenshot(path=str(tmp_path / "lesson1.png"), full_page=True)
        print("screenshot:", tmp_path / "lesson1.png")


def _student_session(page):
    _run_all(page)
    # The setup cell ran to the end: the model line is on screen, and no traceback anywhere.
    page.locator(".jp-OutputArea-output", has_text="Using model course-gpt2").first.wait_for()
    last = page.locator(".jp-Notebook .jp-CodeCell").last
    last.locator(".jp-InputPrompt", has_text="[").first.wait_for()
    page.wait_for_function("() => !document.querySelector('.jp-InputPrompt')?.textContent.includes('[*]')"
                           " && ![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))")
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                        has_text="Traceback").count() == 0
    unanswered = _cell_with(page, "q1.grade()").locator(".jp-OutputArea-output")
    assert "Not attempted" in unanswered.inner_text()

    check, verdict = _answer_and_check(page, "vocab_size = ____", "vocab_size = 50256", "q1.grade()")
    assert verdict.inner_text().startswith("Incorrect")
    red, green, blue = _colour(verdict)
    assert red > 150 and green < 100 and blue < 100, (red, green, blue)
    assert "largest token id" in check.locator(".jp-OutputArea").inner_text()  # the named mistake

    check, verdict = _answer_and_check(page, "vocab_size = 50256", "vocab_size = len(tokenizer)", "q1.grade()")
    page.wait_for_function("e => e.textContent.startsWith('Correct')", arg=verdict.element_handle())
    red, green, blue = _colour(verdict)
    assert green > 100 and red < 100, (red, green, blue)


def test_validate_reports_the_unanswered_exercises(lab, page, tmp_path):
    """nbgrader's Validate button on the untouched lesson 1: not "Success!", but each exercise
    that is not answered, by name."""
    _open(page, lab, "lesson1.ipynb")
    try:
        page.locator(".validate-button, button:has-text('Validate')").first.click()
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        dialog.wait_for(timeout=180_000)
        text = dialog.inner_text()
        assert "Success" not in text, text
        assert "Not attempted" in text and "q1" in text, text
    finally:
        page.screenshot(path=str(tmp_path / "validate.png"), full_page=True)
        print("screenshot:", tmp_path / "validate.png")


def test_an_incorrect_verdict_shows_the_students_answer_as_a_picture(lab, page, tmp_path):
    """Lesson 3's q3 answered with logits instead of probabilities: a red Incorrect verdict and,
    under it, a figure (the student's distribution beside the reference) that the browser draws."""
    _open(page, lab, "figure.ipynb")
    try:
        _run_all(page)
        check = _cell_with(page, "q3.check()")
        verdict = check.locator(".jp-OutputArea-output span[style*='font-weight']").first
        verdict.wait_for(timeout=120_000)
        assert verdict.inner_text().startswith("Incorrect")
        red, green, blue = _colour(verdict)
        assert red > 150 and green < 100 and blue < 100, (red, green, blue)
        picture = check.locator(".jp-OutputArea-output img").first
        picture.wait_for()
        picture.scroll_into_view_if_needed()
        width, height = picture.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().height]")
        assert width > 300 and height > 100, (width, height)   # decoded and drawn, not a broken icon
    finally:
        page.screenshot(path=str(tmp_path / "figure.png"), full_page=True)
        print("screenshot:", tmp_path / "figure.png")


def test_moving_the_temperature_slider_redraws_the_distribution(lab, page, tmp_path):
    """The explorer of lesson 5: real widgets in JupyterLab; a key press on a slider redraws."""
    try:
        _move_a_slider(lab, page)
    finally:
        page.screenshot(path=str(tmp_path / "sliders.png"))
        print("screenshot:", tmp_path / "sliders.png")


def _move_a_slider(lab, page):
    _open(page, lab, "sliders.ipynb")
    _run_all(page)
    picture = page.locator(".jp-OutputArea-output img").first
    picture.wait_for(timeout=60_000)
    before = picture.get_attribute("src")
    slider = page.locator(".widget-slider", has_text="temperature").first
    handle = slider.locator(".noUi-handle, [role='slider']").first
    handle.focus()
    for _ in range(10):            # temperature 1.0 -> 1.5 in steps of 0.05
        page.keyboard.press("ArrowRight")
    page.wait_for_function("([img, old]) => img.isConnected ? img.src !== old : true",
                           arg=[picture.element_handle(), before], timeout=60_000)
    after = page.locator(".jp-OutputArea-output img").first.get_attribute("src")
    assert after and after != before
    assert "1.5" in slider.inner_text()


def _class_rows_and_results():
    """A small graded class, as grades.csv rows and their results: two named mistakes, a timeout."""
    rows, results = [], {}
    for k, (status, verdicts) in enumerate([("graded", ["Correct", "Correct"]), ("graded", ["Incorrect", "Correct"]),
                                            ("graded", ["Incorrect", "Incorrect"]), ("timeout", ["Correct", "Not run"])]):
        student = f"s{k + 1:03d}"
        problems = [{"grade_id": f"lesson1_q{i + 1}", "problem": f"lesson1.q{i + 1}", "max_score": 1.0,
                     "score": 1.0 if v == "Correct" else 0.0, "status": v, "message": "",
                     **({"mistake": "lesson1.q1:largest_id", "failed_tests": ["hidden test 3"]} if v == "Incorrect" else {})}
                    for i, v in enumerate(verdicts)]
        row = {"student_id": student, "notebook": "lesson1", "score": sum(p["score"] for p in problems),
               "max_score": 2.0, "status": status, "reason": "the notebook ran past 400 s" if status == "timeout" else ""}
        rows.append({k: str(v) for k, v in row.items()})
        results[(student, "lesson1")] = {"row": row, "problems": problems}
    return rows, results


@pytest.mark.parametrize("width", [1280, 390])   # a laptop and a phone
def test_the_class_report_opens_with_no_script_and_no_remote_load(tmp_path, width):
    """``OUT/report.html`` in Chromium: its plots load (inline PNGs), nothing is fetched from
    anywhere, no script runs, and on a phone the page does not scroll sideways."""
    from grader.reports import report, report_html

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install '.[dev]')")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set COURSE_CHROMIUM)")
    path = tmp_path / "report.html"
    path.write_text(report_html.page(report.class_report(tmp_path, *_class_rows_and_results())), encoding="utf-8")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
        images = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
        scripts = page.eval_on_selector_all("script", "els => els.length")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        text = page.inner_text("body")
        browser.close()
    assert images == [True, True]                  # the one lesson's two plots
    assert scripts == 0 and all(url.startswith(("file:", "data:")) for url in requests)
    assert overflow <= 1
    assert "lesson1.q1:largest_id" in text and "s002" in text and "s003" in text and "timeout" in text
