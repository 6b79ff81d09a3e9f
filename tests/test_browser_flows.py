"""A student's and an instructor's day, driven in a real browser (issue 11).

Both flows run `make lab`'s own command (read from the Makefile with ``make -n lab``: the
same JupyterLab, served from the course folder on ``assignments/``), in a copy of the
course, on a free port with a token, stopped afterwards; Playwright for Python drives
Debian's chromium, headless, every request off this machine refused.

* **Student** (``test_student_in_jupyterlab``): opens ``ps1/ps1.ipynb``, types a right
  ``sigmoid`` into its answer cell, runs it and its test cell (the visible tests pass),
  types the derivative written as the sigmoid itself into ``sigmoid_prime``'s answer cell
  and sees its test cell name that mistake (``contract.MISTAKES["sigmoid_itself"]``), then
  presses nbgrader's **Validate** button and reads its verdict: sigmoid_prime's test cell
  fails with that message, sigmoid's does not.
* **Instructor** (``test_instructor_in_formgrader``): a ps4 submission graded by `make
  grade`'s command; in formgrader (nbgrader's server extension, in that JupyterLab) the
  manual-grading page of the learning curve takes a score and a comment; `make grade`'s
  command again (it refreshes feedback and CSV of submissions graded before) shows the
  score in ``grades.csv`` and the comment in the student's feedback page.

Screenshots of each step go to ``_build/screenshots/`` (``lab-*.png``, ``formgrader-*.png``).
Skipped, with a message, where Chromium or Playwright is missing.
"""

import csv
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import CHROMIUM, browser_marks, submit, sync_playwright
from test_assignments import student_notebook
from test_feedback import message

from bpcourse.grading import driver

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - in the dev extra
    expect = None
pytestmark = browser_marks("the JupyterLab and formgrader flows skipped")

SIGMOID = '''def sigmoid(z):
    """Logistic sigmoid, stable for |z| = 1000."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
'''
SIGMOID_ITSELF = '''def sigmoid_prime(z):
    """The derivative of the sigmoid (wrong: it is the sigmoid itself)."""
    return sigmoid(z)
'''
# JupyterLab's user settings for the test's browser (its own settings folder): every cell
# rendered (not only those on screen), no news or update check (no network here).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        '{"fetchNews": "false", "checkForUpdates": false}',
}


# -- the course and JupyterLab -----------------------------------------------------------
def lab_command():
    """`make lab`'s command line, as the Makefile has it (``make -n``: printed, not run)."""
    dry = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "lab"], capture_output=True,
                         text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    lines = [line for line in dry.stdout.splitlines() if " lab " in f" {line} "
             and "jupyter" in line]
    assert lines, f"no `jupyter lab` command in `make -n lab`:\n{dry.stdout}"
    cmd = shlex.split(lines[-1])
    if not os.path.isabs(cmd[0]):  # the Makefile's .venv/bin/jupyter
        cmd[0] = str(ROOT / cmd[0])
    return cmd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(course, tmp, log_name="lab.log", seconds=90):
    """`make lab`'s JupyterLab in ``course``: (its URL, its token); stopped afterwards."""
    port, token = free_port(), secrets.token_hex(16)
    settings = Path(tmp) / "lab-settings"
    for rel, text in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(text)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(Path(tmp) / "lab-workspaces"),
               JUPYTER_RUNTIME_DIR=str(Path(tmp) / "jupyter-runtime"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = lab_command() + ["--no-browser", "--ip=127.0.0.1", f"--port={port}",
                           f"--IdentityProvider.token={token}",
                           "--ServerApp.port_retries=0", "--LabApp.news_url=None"]
    log = open(Path(tmp) / log_name, "w")
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                req = urllib.request.Request(f"{url}/api/status",
                                             headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"JupyterLab did not start ({' '.join(cmd)}):\n"
                            + (Path(tmp) / log_name).read_text()[-3000:])
            time.sleep(0.5)
        yield url, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)  # its own process group: the server and its kernels
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        log.close()


@contextmanager
def browser_page(token, refused):
    """A headless chromium page that sends the token and reaches no other host.

    The network is cut in chromium itself (every host name unresolvable, a dead proxy for
    anything but this machine), not with Playwright's request routing, which breaks
    JupyterLab's kernel websocket; ``refused`` gets every request that failed elsewhere.
    """
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                  "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"])
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000},
                                      extra_http_headers={"Authorization": f"token {token}"})
            ctx.set_default_timeout(60_000)
            page = ctx.new_page()
            page.on("requestfailed", lambda r: refused.append(r.url)
                    if not r.url.startswith("http://127.0.0.1") else None)
            yield page
        finally:
            browser.close()


def copy_course(tmp):
    course = Path(tmp) / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "assignments", course / "assignments")
    return course


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def flat(text):
    return " ".join(text.split())


# -- the student -------------------------------------------------------------------------
def cell_with(page, text):
    """The notebook cell whose source holds ``text`` (exactly one)."""
    cells = page.locator(".jp-Notebook .jp-Cell").filter(
        has=page.locator(".cm-content", has_text=text))
    expect(cells).to_have_count(1)
    return cells.first


def write_cell(page, cell, code):
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)  # as typed, without the editor's auto-indent


def run_cell(page, cell):
    """Run one cell (Shift+Enter) and wait until its prompt shows its execution count."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Escape")  # command mode: Shift+Enter runs the selected cell
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"),
                                                         timeout=120_000)
    return flat(cell.locator(".jp-OutputArea").inner_text())


def test_student_in_jupyterlab(tmp_path):
    course = copy_course(tmp_path)
    release = (course / "assignments" / "ps1" / "ps1.ipynb").read_bytes()
    refused = []
    with jupyterlab(course, tmp_path) as (url, token), browser_page(token, refused) as page:
        page.goto(f"{url}/lab/tree/ps1/ps1.ipynb")
        expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible()
        expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle",
                                                                   timeout=120_000)
        shot(page, "lab-1-opened.png")

        run_cell(page, cell_with(page, "import numpy as np"))
        answer = cell_with(page, "def sigmoid(z):")
        write_cell(page, answer, SIGMOID)
        assert not run_cell(page, answer), "the sigmoid cell printed something"
        test = cell_with(page, '"""sigmoid: right values')
        out = run_cell(page, test)
        test.scroll_into_view_if_needed()
        shot(page, "lab-2-sigmoid-passes.png")
        assert "Error" not in out and "Failed" not in out and "Traceback" not in out, \
            f"the visible tests of sigmoid failed:\n{out}"

        answer = cell_with(page, "def sigmoid_prime(z):")
        write_cell(page, answer, SIGMOID_ITSELF)
        run_cell(page, answer)
        test = cell_with(page, '"""sigmoid_prime: the derivative')
        out = run_cell(page, test)
        test.locator(".jp-OutputArea").scroll_into_view_if_needed()
        shot(page, "lab-3-sigmoid-prime-mistake.png")
        assert flat(message("sigmoid_itself")) in out, \
            f"the test cell does not name the mistake sigmoid_itself:\n{out}"

        page.get_by_role("button", name="Validate").click()  # nbgrader's: saves, validates
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_be_visible(timeout=180_000)
        expect(dialog.locator(".jp-Dialog-header")).to_have_text(
            re.compile("Validation"), timeout=10_000)
        verdict = flat(dialog.inner_text())
        shot(page, "lab-4-validate.png")
    assert "Validation Results" in verdict, f"Validate did not validate:\n{verdict[:2000]}"
    failed = verdict.split("The following cell failed:")
    assert any('"""sigmoid_prime: the derivative' in f and flat(message("sigmoid_itself")) in f
               for f in failed[1:]), f"Validate does not report sigmoid_prime:\n{verdict[:3000]}"
    assert not any('"""sigmoid: right values' in f for f in failed[1:]), \
        "Validate reports the right sigmoid as failing (did it validate the saved notebook?)"
    saved = (course / "assignments" / "ps1" / "ps1.ipynb").read_text()
    assert "np.where(z >= 0, 1 / (1 + e), e / (1 + e))" in saved, "Validate did not save first"
    assert (ROOT / "assignments" / "ps1" / "ps1.ipynb").read_bytes() == release, \
        "the committed release changed"
    print("requests off this machine, refused:", sorted(set(refused)))


# -- the instructor ----------------------------------------------------------------------
def grade(course):
    """`make grade`'s command in the course copy; its output."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run([sys.executable, "-m", "bpcourse.grading", "--course", str(course),
                          "grade", "--timeout", "120"], cwd=course, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


def csv_score(course, student, assignment):
    with open(course / "_grading" / "grades.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if r["student_id"] == student and r["assignment"] == assignment]
    assert len(rows) == 1, rows
    return float(rows[0]["score"])


def manual_grade(course, student, name):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / '_grading' / 'gradebook.db'}") as gb:
        g = gb.find_grade(name, "ps4", "ps4", student)
        c = gb.find_comment(name, "ps4", "ps4", student)
        return g.manual_score, c.manual_comment


def test_instructor_in_formgrader(tmp_path):
    course = copy_course(tmp_path)
    driver.build_sources(course, ["ps4"])
    nb = tmp_path / "ps4.ipynb"
    import nbformat

    nbformat.write(student_notebook("ps4"), nb)
    submit(course, "alice", nb)
    first = grade(course)
    assert "needs manual grading" in first, first
    before = csv_score(course, "alice", "ps4")
    score, comment = 2, "Both curves, labelled and titled: well done (formgrader test)."
    refused, saved = [], []
    with jupyterlab(course, tmp_path, "formgrader.log") as (url, token), \
            browser_page(token, refused) as page:
        page.on("response", lambda r: saved.append((r.request.method, r.url, r.status))
                if r.request.method == "PUT" else None)
        page.goto(f"{url}/formgrader/gradebook/ps4/ps4")
        link = page.locator("a[href*='/formgrader/submissions/']").first
        expect(link).to_be_visible()
        shot(page, "formgrader-1-submissions.png")
        link.click()
        box = page.locator("input#learning_curve")
        expect(box).to_be_visible()
        box.scroll_into_view_if_needed()
        box.fill(str(score))
        box.press("Tab")  # a change event: formgrader saves the grade
        text = page.locator("textarea#learning_curve-comment")
        text.fill(comment)
        text.press("Tab")
        deadline = time.monotonic() + 30
        while sum(s == 200 for _, _, s in saved) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        shot(page, "formgrader-2-learning-curve-graded.png")
    assert [s for _, _, s in saved].count(200) >= 2, f"formgrader did not save: {saved}"
    assert manual_grade(course, "alice", "learning_curve") == (score, comment)
    again = grade(course)  # make grade again: feedback and CSV refreshed
    assert "graded before" in again, again
    assert manual_grade(course, "alice", "learning_curve") == (score, comment), \
        "make grade overwrote the manual grade"
    assert csv_score(course, "alice", "ps4") == before + score, \
        f"grades.csv: {csv_score(course, 'alice', 'ps4')}, expected {before} + {score}"
    page = (course / "_grading" / "feedback" / "alice" / "ps4" / "ps4.html").read_text()
    assert comment in page, "the comment is not in the student's feedback"
    assert re.search(r'name="learning_curve"></a>.*?Score: 2\.0 / 2\.0', page, re.S), \
        "the feedback does not show the manual score of the learning curve"
