"""Sanitize step: test cells and their metadata as released, whatever the hand-in did.

``GuardCells`` (first of nbgrader's sanitize preprocessors) notes test cells that were
deleted, duplicated or whose metadata was edited, and drops grading metadata from cells
the gradebook does not know; nbgrader's ``OverwriteCells`` then restores every test cell
from the gradebook. Hand-ins that are not a notebook at all (a symbolic link, invalid
JSON, another file name) never get this far: ``driver.handin`` refuses them with a reason.
"""

from nbgrader.preprocessors import NbGraderPreprocessor

from .cells import meta


class GuardCells(NbGraderPreprocessor):
    """Note tampering with graded cells; forget grading metadata the gradebook lacks."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry

        nb.metadata.pop("bpcourse_grading", None)  # only the grader writes it
        info = resources.get("nbgrader", {})
        events = []
        try:
            with Gradebook(info["db_url"]) as gb:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
                grades = {g.name: g.max_score for g in notebook.grade_cells}
                solutions = {s.name for s in notebook.solution_cells}
                tests = {g.name for g in notebook.grade_cells if g.name not in solutions}
                known = set(grades) | solutions | {s.name for s in notebook.source_cells}
        except (KeyError, MissingEntry):
            return nb, resources
        seen = []
        for cell in nb.cells:
            m = meta(cell)
            gid = m.get("grade_id")
            if not gid:
                if "nbgrader" in cell.get("metadata", {}):
                    del cell.metadata["nbgrader"]
                continue
            if gid not in known:
                events.append(f"tampering detected: a cell claims to be graded cell {gid!r}, "
                              "unknown to the gradebook (its grading metadata ignored)")
                del cell.metadata["nbgrader"]
                continue
            seen.append(gid)
            if gid in tests and (m.get("points") != grades[gid] or not m.get("grade")
                                 or m.get("solution") or not m.get("locked")):
                events.append(f"tampering detected: test cell {gid} had its metadata edited "
                              "(restored from the gradebook)")
        for gid in sorted(tests - set(seen)):
            events.append(f"tampering detected: test cell {gid} deleted or unmarked "
                          "(scores 0)")
        for gid in sorted({g for g in seen if seen.count(g) > 1}):
            events.append(f"tampering detected: graded cell {gid} appears more than once")
        nb.metadata["bpcourse_grading"] = {"events": events}
        return nb, resources

