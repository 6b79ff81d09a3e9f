"""The chapters' self-check quizzes work in the built pages, in a real browser, offline.

Each chapter ends with a ``Check yourself`` section whose cell (``book/_scripts/quiz.py``)
writes jupyterquiz's HTML and JavaScript into its output. Playwright for Python drives
Debian's chromium, headless, on the pages that ``built_book`` (tests/conftest.py) built,
with the network cut twice: every host name unresolvable in chromium, and every request
that is not ``file://`` aborted (and recorded: a page that asks for one fails).

* ``test_quiz_answers`` answers, on a chapter page, one multiple-choice question right and
  wrong, and one numeric question with the right number, a listed mistake and some other
  number. The right answers come from the question data the page embeds (the variable
  ``questions<container id>``), not from trying; each time the feedback must show the
  correct/incorrect state and the explanation of that answer, its math typeset by the
  page's own MathJax.
* ``test_every_chapter_has_a_quiz`` opens every chapter of ``_toc.yml`` (not the root page
  nor the references) and counts the rendered questions of its quiz: 2 to 5, in the section
  "Check yourself", their math typeset (no raw TeX left), nothing fetched from the network.

A screenshot of each answered quiz goes to ``_build/screenshots/quiz-*.png``. Skipped, with a
message, where Chromium or Playwright is missing.
"""

import html
import re
from decimal import Decimal
from pathlib import Path

import pytest
from support import CHROMIUM, OFFLINE_PAGES, browser_marks, sync_playwright
from test_book import HTML, PAGES

SHOTS = HTML.parent / "screenshots"
pytestmark = browser_marks("the quiz checks skipped")

# Every chapter: not the root page (the first of _toc.yml) nor the bibliography.
CHAPTERS = [p for p in PAGES[1:] if Path(p).name != "references"]
# The pages whose quiz is answered: a float and an integer numeric answer between them.
ANSWERED = ["book/02-sigmoid-neuron", "book/14-hyperparameters"]
RAW_TEX = re.compile(r"\$|\\\(|\\\)|\\\[|\\\]|\\[a-zA-Z]+")
MATH = re.compile(r"\$[^$]*\$")


@pytest.fixture(scope="module")
def browser(built_book):
    proc, _ = built_book
    if proc.returncode:
        pytest.fail("the book did not build (see test_book_builds)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=OFFLINE_PAGES)
        yield b
        b.close()


@pytest.fixture
def page_of(browser):
    """Opens a built page offline; returns (page, the URLs refused)."""
    contexts = []

    def open_page(name):
        ctx = browser.new_context(viewport={"width": 1200, "height": 2000})
        ctx.set_default_timeout(30_000)
        contexts.append(ctx)
        refused = []

        def route(r):
            url = r.request.url
            if url.startswith(("file:", "data:", "blob:")):
                return r.continue_()
            refused.append(url)
            return r.abort()

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.goto((HTML / f"{name}.html").as_uri(), wait_until="load")
        # MathJax typesets the page (quizzes included) once its startup promise resolves.
        page.evaluate("""async () => {
            if (window.MathJax && MathJax.startup && MathJax.startup.promise)
                await MathJax.startup.promise;
        }""")
        return page, refused

    yield open_page
    for ctx in contexts:
        ctx.close()


def quiz_of(page):
    """(container element, the questions the page embeds) of the page's one quiz."""
    containers = page.locator("div.bp-quiz")
    assert containers.count() == 1, f"{containers.count()} quiz containers on the page"
    cid = containers.first.get_attribute("id")
    questions = page.evaluate("id => window['questions' + id]", cid)
    assert questions, f"no question data questions{cid} on the page"
    return containers.first, questions


def flat(text):
    return " ".join(text.split())


def check_feedback(wrapper, expected, correct):
    """The question's feedback shows this state and the explanation ``expected`` (quiz HTML)."""
    fb = wrapper.locator("div.Feedback")
    fb.wait_for(state="visible")
    classes = fb.get_attribute("class").split()
    state = "correct" if correct else "incorrect"
    assert state in classes, f"feedback is {classes}, expected {state}: {fb.inner_text()!r}"
    # Math is typeset inside the feedback (one <mjx-container> per $...$), no raw TeX is left,
    # and every stretch of text between the math is shown, in order.
    n_math = len(MATH.findall(expected))
    wrapper.page.wait_for_function("([el, n]) => el.querySelectorAll('mjx-container').length >= n",
                                   arg=[fb.element_handle(), n_math])
    shown = flat(fb.inner_text())
    assert fb.locator("mjx-container").count() == n_math, (expected, shown)
    assert not RAW_TEX.search(shown), f"raw TeX in the feedback: {shown!r}"
    at = 0
    for part in MATH.split(expected):
        part = flat(html.unescape(re.sub(r"<[^>]+>", "", part)))
        if part:
            found = shown.find(part, at)
            assert found >= 0, f"{part!r} not in the feedback {shown!r}"
            at = found + len(part)


def typed(value, precision):
    """How a reader types ``value`` to ``precision`` significant digits: "130", "-0.00156"."""
    return format(Decimal(f"{value:.{precision}g}"), "f")


@pytest.mark.parametrize("name", ANSWERED)
def test_quiz_answers(page_of, name):
    """One multiple-choice and one numeric question, each answered right and wrong."""
    page, refused = page_of(name)
    container, questions = quiz_of(page)
    kinds = [q["type"] for q in questions]
    assert "multiple_choice" in kinds and "numeric" in kinds, kinds

    # Multiple choice: the right answer, then a wrong one, found by their data.
    i = kinds.index("multiple_choice")
    wrapper = container.locator(f'div.Quiz[data-qnum="{i}"]')
    labels = wrapper.locator("label.MCButton")
    by_feedback = {labels.nth(k).get_attribute("data-feedback"): labels.nth(k)
                   for k in range(labels.count())}
    answers = questions[i]["answers"]
    right = next(a for a in answers if a["correct"])
    wrong = next(a for a in answers if not a["correct"])
    for answer in (right, wrong):
        label = by_feedback[answer["feedback"]]
        label.click()
        check_feedback(wrapper, answer["feedback"], answer["correct"])
        mark = "correctButton" if answer["correct"] else "incorrectButton"
        assert mark in label.get_attribute("class").split(), label.get_attribute("class")

    # Numeric: the right number, a listed mistake, then a number nobody listed.
    i = kinds.index("numeric")
    q = questions[i]
    wrapper = container.locator(f'div.Quiz[data-qnum="{i}"]')
    box = wrapper.locator("input.Input-text")
    value = next(a for a in q["answers"] if a.get("correct"))
    mistakes = [a for a in q["answers"] if a.get("type") == "value" and not a["correct"]]
    default = next(a for a in q["answers"] if a.get("type") == "default")
    other = value["value"] * 10 + 7
    assert not any(a.get("range") and a["range"][0] <= other < a["range"][1]
                   or a.get("value") == float(typed(other, q["precision"]))
                   for a in q["answers"]), other
    tries = [(typed(value["value"], q["precision"]), value["feedback"], True)]
    tries += [(typed(a["value"], q["precision"]), a["feedback"], False) for a in mistakes[:1]]
    tries += [(typed(other, q["precision"]), default["feedback"], False)]
    for text, feedback, correct in tries:
        box.fill(text)
        box.press("Enter")
        check_feedback(wrapper, feedback, correct)
        mark = "correctButton" if correct else "incorrectButton"
        assert mark in box.get_attribute("class").split(), (text, box.get_attribute("class"))

    SHOTS.mkdir(parents=True, exist_ok=True)
    container.screenshot(path=str(SHOTS / f"quiz-{Path(name).name}.png"))
    assert not refused, f"requests off this machine: {refused}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_a_quiz(page_of, name):
    """2 to 5 rendered questions in "Check yourself", math typeset, no network."""
    page, refused = page_of(name)
    container, questions = quiz_of(page)
    wrappers = container.locator("div.Quiz")
    assert 2 <= wrappers.count() <= 5, f"{wrappers.count()} questions rendered"
    assert wrappers.count() == len(questions)
    section = page.locator("section", has=page.locator("div.bp-quiz")).last
    heading = re.sub(r"^[\d.]+\s*|\s*#$", "", flat(section.locator("h2").first.inner_text()))
    assert heading == "Check yourself", f"the quiz is in the section {heading!r}"
    text = container.inner_text()
    assert not RAW_TEX.search(text), f"raw TeX in the quiz: {RAW_TEX.findall(text)}"
    n_math = sum(len(MATH.findall(q["question"])) + sum(len(MATH.findall(a.get("answer", "")))
                                                         for a in q["answers"])
                 for q in questions)
    assert container.locator("mjx-container").count() == n_math
    assert not refused, f"requests off this machine: {refused}"
