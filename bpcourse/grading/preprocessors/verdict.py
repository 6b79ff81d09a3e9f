"""Autograde step: every test cell decided in the grader's process; feedback without hidden code.

``GraderVerdict`` takes each test cell's verdict from the checks the grader ran itself
over the grading channel (``channel.py``, while the notebook executed), applies the
static rules (``static_rules.py``), and rewrites the cell's outputs as the teaching
message alone (no traceback, no hidden code). nbgrader's ``SaveAutoGrades`` turns the
outputs into scores as usual; ``StripHiddenTests`` (last, after the checksums) removes
the hidden tests from the source the student gets back.
"""

import os
import shutil

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from ..contract import by_cell
from .cells import error_output, is_test, meta, strip_hidden
from .static_rules import analyse


class GraderVerdict(NbGraderPreprocessor):
    """Decide every test cell in the grader's process, from the grader's own checks.

    Each test cell's outputs become the teaching message alone, and its verdict is stored
    as fields in ``bpcourse_grading.cells[grade_id]``: ``outcome`` (passed, failed,
    not_written, error, timeout, crashed, not_run, not_graded, no_result), ``mistake`` (a
    key of MISTAKES or None) and ``detail`` (a line for the summary).
    """

    def preprocess(self, nb, resources):
        info = resources.get("bpcourse", {})
        noted = nb.metadata.get("bpcourse_grading") or {}
        events = list(noted.get("events", [])) + list(info.get("events", []))
        checked = info.get("verdicts", {})  # (behaviour, "record" | "explain") -> Verdict
        states = info.get("cells", {})
        tests = [(i, c, by_cell(meta(c).get("grade_id"))) for i, c in enumerate(nb.cells)
                 if is_test(c)]
        tests = [(i, c, b) for i, c, b in tests if b is not None]
        flags, static_events = analyse(nb, {b.function for _, _, b in tests})
        events += static_events
        verdicts = {}
        for index, cell, b in tests:
            v, printed = self._decide(b, cell, states.get(index), flags, checked)
            outs = []
            if printed:
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=printed[:2000]))
            if v["outcome"] != "passed":
                outs.append(error_output(v.pop("ename"), v.pop("message")))
            cell.outputs = outs
            verdicts[b.cell] = v
        nb.metadata["bpcourse_grading"] = {"events": list(dict.fromkeys(events)),
                                           "cells": verdicts}
        workdir = info.get("workdir")
        if workdir and os.path.basename(workdir).startswith("bpcourse-grading-"):
            shutil.rmtree(workdir, ignore_errors=True)
        return nb, resources

    @staticmethod
    def _decide(b, cell, state, flags, checked):
        """The verdict of one test cell (fields) and what its check said."""

        def verdict(outcome, ename, message, mistake=None, detail=None):
            first = message.strip().splitlines()[0] if message.strip() else ename
            return {"outcome": outcome, "mistake": mistake, "ename": ename,
                    "message": message, "detail": (detail or first)[:70]}, ""

        fn = b.function
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if fn in flags:
            return verdict("not_graded", "NotGraded", f"{fn}: {flags[fn]}")
        if state or errors:  # the cell itself did not run to its end in the kernel
            e = errors[0] if errors else {}
            ename = str(e.get("ename", "Error"))[:60]
            message = str(e.get("evalue", ""))[:3000]
            if state:
                return verdict(state, ename, message, detail={
                    "timeout": "timed out (cut off)", "crashed": "the kernel died here",
                    "not_run": "not run (an earlier cell stopped the kernel)"}[state])
            # A visible test failed: the mistake, if any, from the grader's own check of
            # the function (the diagnosis), never from the kernel's message.
            found = checked.get((b.name, "explain"))
            if found and found.outcome in ("failed", "not_written"):
                return verdict(found.outcome, ename, message, found.mistake,
                               "not written" if found.outcome == "not_written" else
                               found.mistake or f"{ename}: {found.message}")
            return verdict("error", ename, message, detail=f"{ename}: {message}")
        found = checked.get((b.name, "record"))
        if found is None or found.outcome == "broken":
            return verdict("no_result", "NoResult", f"{fn}: the hidden tests did not run to "
                                                    "the end, so there is no result to grade",
                           detail="no result (the hidden tests did not run to the end)")
        if found.passed:
            return {"outcome": "passed", "mistake": None, "detail": ""}, found.printed
        v, _ = verdict(found.outcome, "CheckFailed", found.message, found.mistake,
                       "not written" if found.outcome == "not_written" else found.mistake)
        return v, found.printed


class StripHiddenTests(NbGraderPreprocessor):
    """Remove the hidden tests from the test cells' source (last: after the checksums)."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            if cell.cell_type == "code" and meta(cell).get("grade"):
                cell.source = strip_hidden(cell.source)
        return nb, resources
