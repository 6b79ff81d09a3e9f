"""The feedback a student gets back renders with no network (issue 11).

A small batch is graded as `make grade` does (a course copy, the hardened pipeline): the
solution of ps1 with one honest bug, ``sigmoid_prime`` returning sigma(z) (mistake
``sigmoid_itself``). Its feedback page is then opened from disk in headless Chromium
(Playwright, Debian's chromium) with every request that is not a ``file:`` URL refused, and
must show:

* its math typeset by MathJax (``mjx-container`` elements, as SVG) and no raw TeX,
* for every test cell its score, the gradebook's, and for the failing cell the teaching
  message of its mistake (read from ``contract.MISTAKES``, not copied here),
* no hidden test: neither nbgrader's ``BEGIN HIDDEN TESTS`` nor any line of the hidden
  part of a test cell (``record("sigmoid_prime", sigmoid_prime)``).

The page must be one self-contained file (no script, style or image from elsewhere). A
screenshot goes to ``_build/screenshots/feedback-ps1.png``. ``test_checker_catches_bad_feedback``
shows the checks fail on nbgrader's own page (MathJax from a CDN) and on a page that shows
a hidden test.
"""

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import submit
from test_assignments import buggy_notebook

from bpcourse.grading import driver
from bpcourse.grading.contract import MISTAKES

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
BUG = ("sigmoid_prime", "s = sigmoid(z)\n    return s * (1 - s)", "return sigmoid(z)")
RAW_TEX = re.compile(r"\$\$|\\frac|\\sigma|\\partial|\\begin\{|\\\(|\\\[")

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - in the dev extra
    sync_playwright = None
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or sync_playwright is None,
    reason="headless Chromium (Debian's `chromium`) or Playwright for Python not found; "
           "browser checks of the feedback skipped")


def message(name):
    """The teaching message of a mistake, whatever the contract's entry looks like."""
    m = MISTAKES[name]
    return m if isinstance(m, str) else getattr(m, "message", None) or m.text


def hidden_lines(source_nb):
    """Every non-blank line between BEGIN and END HIDDEN TESTS in the source notebook."""
    import nbformat

    lines = set()
    for cell in nbformat.read(source_nb, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.add(line.strip())
    return lines


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course copy with one ps1 submission graded by `make grade`'s command."""
    fetched = subprocess.run(["make", "-s", "-C", str(ROOT), "vendor-feedback"],
                             capture_output=True, text=True)
    if fetched.returncode:
        pytest.fail(f"make vendor-feedback (MathJax from npm) failed:\n{fetched.stderr}")
    course = tmp_path_factory.mktemp("feedback") / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "assignments", course / "assignments")
    driver.build_sources(course, ["ps1"])
    import nbformat

    nb = course.parent / "ps1.ipynb"
    nbformat.write(buggy_notebook("ps1", *BUG), nb)
    submit(course, "mistaken", nb)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run([sys.executable, "-m", "bpcourse.grading", "--course", str(course),
                          "grade", "--timeout", "30"], cwd=course, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    page = course / "_grading" / "feedback" / "mistaken" / "ps1" / "ps1.html"
    assert page.is_file(), run.stdout[-3000:]
    return course, page


def _scores(course):
    """{grade id: (score, points)} of the test cells, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / '_grading' / 'gradebook.db'}") as gb:
        sub = gb.find_submission_notebook("ps1", "ps1", "mistaken")
        return {g.name: (g.score, g.max_score) for g in sub.grades
                if g.name.startswith("test_")}


def open_offline(path, shot=None):
    """(the rendered page's text, its HTML, mjx-container count, SVG count, refused URLs)."""
    refused = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            page.route("**/*", route)
            page.goto(path.as_uri(), wait_until="load")
            try:  # MathJax 3 says when it has typeset the page
                page.wait_for_function("() => window.MathJax && MathJax.startup "
                                       "&& MathJax.startup.promise", timeout=8000)
                page.evaluate("() => MathJax.startup.promise")
            except Exception:  # noqa: BLE001 - no MathJax: the counts below say so
                page.wait_for_timeout(3000)
            n_math = page.locator("mjx-container").count()
            n_svg = page.locator("mjx-container svg").count()
            text = page.evaluate("""() => { const c = document.body.cloneNode(true);
                c.querySelectorAll('mjx-container, script, style').forEach(e => e.remove());
                return c.innerText; }""")
            if shot:
                shot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot), full_page=True)
            return text, page.content(), n_math, n_svg, refused
        finally:
            browser.close()


def problems_of(path, scores, messages, hidden, shot=None):
    """Every problem of a feedback page, as messages (empty when fine)."""
    static = path.read_text(encoding="utf-8")
    text, dom, n_math, n_svg, refused = open_offline(path, shot)
    out = []
    if refused:
        out.append(f"requests to the network: {sorted(set(refused))[:3]}")
    for url in re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', static):
        if not url.startswith(("data:", "#")):
            out.append(f"loads another file: {url[:80]}")
    if "\\sigma" in static and n_math == 0:
        out.append("math on the page but no <mjx-container>: MathJax did not typeset it")
    if n_math and n_svg < n_math:
        out.append(f"{n_math - n_svg} of {n_math} formulas have no SVG")
    raw = sorted(set(RAW_TEX.findall(text)))
    if raw:
        out.append(f"raw TeX left in the text: {raw}")
    flat = " ".join(text.split())
    for gid, (score, points) in scores.items():
        m = re.search(rf'name="{gid}"></a>.*?Score: ([\d.]+) / ([\d.]+)', dom, re.S)
        if not m:
            out.append(f"{gid}: no score shown")
        elif (float(m[1]), float(m[2])) != (score, points):
            out.append(f"{gid}: shows {m[1]} / {m[2]}, the gradebook has {score} / {points}")
    for gid, msg in messages.items():
        i = dom.find(f'name="{gid}"></a>')
        j = dom.find('<a name="', i + 1)
        cell = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom[i:j])).split())
        if i < 0 or " ".join(msg.split()) not in cell:
            out.append(f"{gid}: its teaching message is not in its cell")
    if "BEGIN HIDDEN TESTS" in static or "END HIDDEN TESTS" in static:
        out.append("shows nbgrader's hidden-test markers")
    shown = [h for h in hidden if h in html.unescape(static) or h in flat]
    if shown:
        out.append(f"shows hidden test code: {shown[:3]}")
    return out


@pytest.mark.slow
def test_feedback_is_one_file_without_network_urls(graded):
    """Not a browser check: the page names no URL to load (MathJax is inlined)."""
    _, page = graded
    static = page.read_text(encoding="utf-8")
    assert "cdnjs" not in static, "nbgrader's MathJax 2 from a CDN is still there"
    assert re.search(r'<(?:script|link|img)[^>]+(?:src|href)="https?:', static) is None
    assert "window.MathJax" in static and static.count("<mjx-container") == 0
    assert sorted(p.name for p in page.parent.iterdir()) == ["ps1.html", "timestamp.txt"]


@pytest.mark.slow
@pytest.mark.browser
@needs_browser
def test_feedback_renders_offline(graded):
    course, page = graded
    scores = _scores(course)
    assert scores["test_sigmoid_prime"][0] == 0 and scores["test_sigmoid"][0] == 2
    hidden = hidden_lines(course / "_grading" / "source" / "ps1" / "ps1.ipynb")
    assert 'record("sigmoid_prime", sigmoid_prime)' in hidden  # what must not show
    problems = problems_of(page, scores, {"test_sigmoid_prime": message("sigmoid_itself")},
                           hidden, shot=SHOTS / "feedback-ps1.png")
    assert not problems, "the feedback page:\n  " + "\n  ".join(problems)


@pytest.mark.slow
@pytest.mark.browser
@needs_browser
def test_checker_catches_bad_feedback(graded, tmp_path):
    """nbgrader's own page (CDN MathJax 2) and a page showing a hidden test both fail."""
    course, page = graded
    scores = _scores(course)
    hidden = hidden_lines(course / "_grading" / "source" / "ps1" / "ps1.ipynb")
    msgs = {"test_sigmoid_prime": message("sigmoid_itself")}
    static = page.read_text(encoding="utf-8")
    start = static.index("<script>\nwindow.MathJax")  # the configuration, then MathJax
    end = static.index("</script>", static.index("</script>", start) + 9) + 9
    cdn = tmp_path / "cdn.html"
    cdn.write_text(static[:start] + '<script src="https://cdnjs.cloudflare.com/ajax/libs/'
                   'mathjax/2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe"></script>'
                   + static[end:], encoding="utf-8")
    found = "\n".join(problems_of(cdn, scores, msgs, hidden))
    for expected in ["requests to the network", "loads another file", "no <mjx-container>",
                     "raw TeX"]:
        assert expected in found, f"the checker missed '{expected}':\n{found}"
    leaky = tmp_path / "leaky.html"
    cell = static.index('name="test_sigmoid_prime"></a>')
    leaky.write_text((static[:cell] + static[cell:].replace("Score: 0.0 / 2.0",
                                                            "Score: 2.0 / 2.0", 1))
                     .replace("# (hidden tests: run by the grader)",
                              "### BEGIN HIDDEN TESTS\nrecord(&quot;sigmoid_prime&quot;, "
                              "sigmoid_prime)\n### END HIDDEN TESTS", 1), encoding="utf-8")
    found = "\n".join(problems_of(leaky, scores, {"test_sigmoid_prime": "no such message"},
                                  hidden))
    for expected in ["hidden-test markers", "shows hidden test code", "test_sigmoid_prime: "
                     "shows 2.0 / 2.0", "test_sigmoid_prime: its teaching message"]:
        assert expected in found, f"the checker missed '{expected}':\n{found}"
