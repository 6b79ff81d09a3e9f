"""Grading of the course's nbgrader assignments: checks that teach, and the grading driver.

The behaviours graded, their points and the mistakes each can name are one table,
``contract.BEHAVIOURS``. The assignments' test cells call::

    from bpcourse.grading import explain, record
    with explain("sigmoid_prime", sigmoid_prime):  # visible tests, diagnosed on failure
        assert ...
    record("sigmoid_prime", sigmoid_prime)         # hidden test of one behaviour

A failing check raises ``CheckFailed`` (an AssertionError) whose message says what is
wrong and whose ``mistake`` field names the common mistake it recognises (``MISTAKES``),
without the answer.

The instructor writes each assignment as a MyST markdown notebook,
``solutions/<ps>/<ps>.md``; the commands (see assignments/README.md)::

    python -m bpcourse.grading build     # solutions/*.md -> _grading/source/ (nbgrader's source)
    python -m bpcourse.grading release   # build, then -> assignments/   (make release)
    python -m bpcourse.grading grade     # build, autograde, feedback, CSV, summary (make grade)
"""

from .checks import CHECKS, CheckFailed, run
from .contract import BEHAVIOURS, MISTAKES
from .kernel import diagnose, explain, record

__all__ = ["BEHAVIOURS", "CHECKS", "MISTAKES", "CheckFailed", "diagnose", "explain",
           "record", "run"]
