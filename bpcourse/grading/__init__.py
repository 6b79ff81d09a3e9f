"""Grading of the course's nbgrader assignments: checks that teach, and the grading driver.

The assignments' test cells call the checks::

    import bpcourse.grading as grading
    grading.record("sigmoid_prime", sigmoid_prime)         # hidden test of one behaviour
    with grading.explain("sigmoid_prime", sigmoid_prime):  # visible tests, diagnosed
        assert ...

A failing check raises ``CheckFailed`` (an AssertionError) whose message says what is
wrong and names the common mistake it recognises (``MISTAKES``), without the answer.

The instructor writes each assignment as a MyST markdown notebook,
``solutions/<ps>/<ps>.md``; the commands (see assignments/README.md)::

    python -m bpcourse.grading build     # solutions/*.md -> _grading/source/ (nbgrader's source)
    python -m bpcourse.grading release   # build, then -> assignments/   (make release)
    python -m bpcourse.grading grade     # build, autograde, feedback, CSV, summary (make grade)
"""

from .checks import CHECKS, MISTAKES, CheckFailed, diagnose, explain
from .record import record

# check_sigmoid, check_sigmoid_prime, ..., one per graded behaviour.
globals().update({f"check_{name}": check for name, check in CHECKS.items()})

__all__ = ["CHECKS", "MISTAKES", "CheckFailed", "diagnose", "explain", "record"] + sorted(
    f"check_{name}" for name in CHECKS)
