"""Helpers the tests (and the grading benchmark) share; not part of the package."""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from bpcourse.grading.driver import GRADING

# The browser tests drive Debian's chromium with Playwright for Python (its own browser
# download is never used); both may be missing, and then those tests are skipped.
try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - in the dev extra
    sync_playwright = PlaywrightTimeout = None
# $CHROMIUM picks the browser (a path that does not exist skips the browser tests).
_CANDIDATES = ([os.environ["CHROMIUM"]] if "CHROMIUM" in os.environ else
               [shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")])
CHROMIUM = next((p for p in _CANDIDATES if p and Path(p).exists()), None)


def needs_browser(skipped):
    """Skip (saying ``skipped``) where chromium or Playwright is missing."""
    return pytest.mark.skipif(CHROMIUM is None or sync_playwright is None,
                              reason="headless Chromium (Debian's `chromium`) or Playwright "
                                     f"for Python not found; {skipped}")


def browser_marks(skipped):
    """The marks of a browser test module: slow, browser, ``needs_browser(skipped)``."""
    return [pytest.mark.slow, pytest.mark.browser, needs_browser(skipped)]


# The book's pages are opened by file:// with no network: every host name unresolvable and
# a dead proxy, so nothing off the machine can load.
OFFLINE_PAGES = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--allow-file-access-from-files",
                 "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


@contextmanager
def offline_browser(executable=CHROMIUM):
    """A headless chromium that reaches nothing but files; yields a page factory.

    On top of chromium's dead network (OFFLINE_PAGES), each page aborts every request that
    is not ``file://`` or ``data:``. Each page records its errors (uncaught exceptions and
    console errors) in ``page.errors`` and every request it was refused in ``page.refused``.
    """
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True,
                                    args=OFFLINE_PAGES)
        try:
            ctx = browser.new_context(viewport={"width": 1200, "height": 1000})
            ctx.set_default_timeout(30_000)

            def new_page(url):
                page = ctx.new_page()
                page.errors, page.refused = [], []

                def gate(route):
                    url = route.request.url
                    if url.startswith(("file://", "data:")):
                        route.continue_()
                    else:
                        page.refused.append(url)
                        route.abort()

                page.route("**/*", gate)
                page.on("pageerror", lambda e: page.errors.append(f"page error: {e}"))
                page.on("console", lambda m: page.errors.append(
                    f"console: {m.text} ({m.location.get('url', '')})"
                    if m.location.get("url") else f"console: {m.text}")
                    if m.type == "error" else None)
                page.on("requestfailed", lambda r: page.refused.append(r.url)
                        if not r.url.startswith(("file://", "data:")) else None)
                page.goto(url)
                page.wait_for_load_state("load")
                return page

            yield new_page
        finally:
            browser.close()

# nbgrader records a hand-in time per submission; tests use one fixed time, so that
# their gradebooks and CSVs do not depend on when they ran.
TIMESTAMP = "2026-11-29 08:00:00.000000 UTC"


def submit(course, student, notebook, assignment=None, timestamp=TIMESTAMP):
    """Hand in a notebook as nbgrader's collect would: _grading/submitted/<student>/<ps>/."""
    notebook = Path(notebook)
    assignment = assignment or notebook.stem
    dest = Path(course) / GRADING / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, dest / f"{assignment}.ipynb")
    (dest / "timestamp.txt").write_text(timestamp)
    return dest
