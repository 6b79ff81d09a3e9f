"""Helpers the tests (and the grading benchmark) share; not part of the package."""

import shutil
from pathlib import Path

import pytest

from bpcourse.grading.driver import GRADING

# The browser tests drive Debian's chromium with Playwright for Python (its own browser
# download is never used); both may be missing, and then those tests are skipped.
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - in the dev extra
    sync_playwright = None
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browser_marks(skipped):
    """The marks of a browser test module: slow, browser, skipped (saying ``skipped``)
    where chromium or Playwright is missing."""
    return [pytest.mark.slow, pytest.mark.browser,
            pytest.mark.skipif(CHROMIUM is None or sync_playwright is None,
                               reason="headless Chromium (Debian's `chromium`) or Playwright "
                                      f"for Python not found; {skipped}")]


# The book's pages are opened by file:// with no network: every host name unresolvable and
# a dead proxy, so nothing off the machine can load.
OFFLINE_PAGES = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--allow-file-access-from-files",
                 "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]

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
