"""Helpers the tests (and the grading benchmark) share; not part of the package."""

import shutil
from pathlib import Path

from bpcourse.grading.driver import GRADING

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
