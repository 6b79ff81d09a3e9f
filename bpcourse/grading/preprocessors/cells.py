"""What the preprocessors need to know about a cell, from nbgrader's own definitions."""

from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import is_grade, is_locked, is_solution

__all__ = ["HIDDEN_BEGIN", "HIDDEN_END", "HIDDEN_NOTE", "error_output", "is_grade", "is_locked",
           "is_solution", "is_test", "meta", "strip_hidden"]

# nbgrader's delimiters of hidden tests (ClearHiddenTests), with its comment mark.
HIDDEN_BEGIN = "### " + ClearHiddenTests.begin_test_delimeter.default_value
HIDDEN_END = "### " + ClearHiddenTests.end_test_delimeter.default_value
HIDDEN_NOTE = "# (hidden tests: run by the grader)"


def meta(cell):
    """The cell's nbgrader metadata, {} when it has none."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test(cell):
    """An autograder test cell: graded, not an answer (nbgrader's own predicates)."""
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def error_output(ename, evalue):
    """An error output whose traceback is the message alone."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {line}" if i == 0 else line
                                   for i, line in enumerate(evalue.splitlines() or [""])])


def strip_hidden(src):
    """A test cell's source with its hidden tests replaced by a note."""
    if HIDDEN_BEGIN not in src:
        return src
    head = src.split(HIDDEN_BEGIN)[0]
    tail = src.split(HIDDEN_END, 1)[1] if HIDDEN_END in src else ""
    return (head.rstrip("\n") + "\n" + HIDDEN_NOTE + tail).strip("\n")
