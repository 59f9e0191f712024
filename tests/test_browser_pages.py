"""What a teacher and a student see of a graded batch: the class report and a feedback page,
opened from disk in a real browser at a desktop's width (1280 px) and a phone's (390 px).

The batch is the demo's class (``tests/demo_batch.py``). Playwright drives the system's Chromium
(Debian's ``chromium``), as ``tests/test_browser.py`` does; skipped, saying why, where either is
missing. Screenshots go to ``COURSE_SCREENSHOTS`` when it is set (to look at them).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
WIDTHS = (1280, 390)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install '.[dev]')")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set COURSE_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    import demo_batch

    return demo_batch.graded_demo(tmp_path_factory)


def _open(browser, path: Path, width: int, name: str):
    """The page at ``width`` px, its console errors collected (a CSP violation is one)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    shots = os.environ.get("COURSE_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / f"{name}-{width}.png"), full_page=False)
    return page, errors


def _fits(page) -> bool:
    """No sideways scrolling of the page itself (a wide table scrolls in its own box)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_opens_with_the_class_and_its_links_lead_to_the_pages(browser, out, width):
    page, errors = _open(browser, out / "report.html", width, "report")
    table = page.locator("table.cls")
    assert table.is_visible()
    first = page.locator("h2").first.inner_text()
    assert first == "The class"
    students = table.locator("tr th:first-child").all_inner_texts()[1:]
    assert students == ["ada", "ben", "cy", "dee", "eve", "fay"]
    links = table.locator("td a[href^='feedback/']")
    hrefs = links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "feedback/ada/lesson1.html" in hrefs and "feedback/eve/lesson1.html" in hrefs
    assert all((out / href).is_file() for href in hrefs)
    assert "✓ graded" in table.inner_text() and "– missing" in table.inner_text()
    integrity = page.locator("#integrity")
    assert integrity.is_visible()
    flagged = page.locator("#integrity > ul > li").all_inner_texts()
    eve = next(text for text in flagged if text.startswith("eve"))
    assert "zeroed: tampering" in eve and "compare.mismatch" in eve
    assert page.locator("img").count() >= 2 and _fits(page) and not errors, errors
    links.first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/feedback/ada/lesson1.html")
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_feedback_page_links_its_cells_renders_maths_and_keeps_its_pictures(browser, out, width):
    page, errors = _open(browser, out / "feedback" / "ada" / "lesson2.html", width, "feedback")
    body = page.locator("body").inner_text()
    assert "$$" not in body and "\\frac" not in body and "\\text" not in body
    maths = page.locator("math")
    assert maths.count() >= 10
    box = maths.first.bounding_box()
    assert box and box["width"] > 5 and box["height"] > 5      # drawn as MathML, not an empty element
    pictures = page.locator("img")
    assert pictures.count() >= 1
    assert all(page.evaluate("img => img.naturalWidth > 0 && img.getBoundingClientRect().width > 0", img)
               for img in pictures.element_handles())
    summary = page.locator("table a[href^='#cell-']")
    assert summary.count() == 5
    summary.nth(2).click()
    target = page.evaluate("location.hash")
    assert page.locator(f"{target} .verdict").is_visible()
    page.locator(f"{target} a[href='#top']").click()
    assert page.evaluate("location.hash") == "#top"
    assert _fits(page) and not errors, errors
    page.close()
