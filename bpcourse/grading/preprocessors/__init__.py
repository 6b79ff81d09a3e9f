"""nbgrader preprocessors that make autograding hold against hostile submissions.

One job each, in the order nbgrader runs them (``configure(c)``, called by
``nbgrader_config.py``, puts them into ``nbgrader autograde``):

guard.py         sanitize: test cells and metadata as released (``GuardCells``)
execute.py       autograde: the kernel in the sandbox, caps on time, memory, output
                 (``SandboxedExecute``)
static_rules.py  teaching rules on the answer cells' source (``analyse``)
verdict.py       autograde: scores from the grader's own checks, feedback without hidden
                 code (``GraderVerdict``, ``StripHiddenTests``)

What happened (timeout, crash, memory limit, tampering) is stored in the autograded
notebook's metadata, ``bpcourse_grading.events``, for the instructor's summary, and each
test cell's verdict as fields in ``bpcourse_grading.cells``.
"""

from .execute import SandboxedExecute, SandboxKernelManager
from .guard import GuardCells
from .static_rules import analyse
from .verdict import GraderVerdict, StripHiddenTests

__all__ = ["GraderVerdict", "GuardCells", "SandboxKernelManager", "SandboxedExecute",
           "StripHiddenTests", "analyse", "configure"]


def configure(c):
    """Put the hardened preprocessors into nbgrader's autograde (nbgrader_config.py)."""
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    c.Autograde.sanitize_preprocessors = [GuardCells, ClearOutput, DeduplicateIds,
                                          OverwriteKernelspec, OverwriteCells,
                                          CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, GraderVerdict,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                           CheckCellMetadata, StripHiddenTests]
