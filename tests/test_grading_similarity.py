"""The similarity report: near copies of each other and of the course's code are flagged."""

import csv
import shutil

import nbformat
from support import submit
from test_assignments import ROOT, student_notebook

from bpcourse.grading import driver, similarity


def test_copies_are_flagged_and_an_unwritten_notebook_is_not(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "assignments", course / "assignments")
    driver.build_sources(course, ["ps1"])
    copy = tmp_path / "copy" / "ps1.ipynb"
    copy.parent.mkdir()
    nbformat.write(student_notebook("ps1"), copy)  # the solution's answers, as handed in
    submit(course, "alice", copy)
    submit(course, "bob", copy)
    submit(course, "carol", ROOT / "assignments" / "ps1" / "ps1.ipynb")  # nothing written
    rows = similarity.report(course, [("alice", "ps1"), ("bob", "ps1"), ("carol", "ps1")])
    found = {(r["student"], r["other"]) for r in rows}
    assert ("alice", "student:bob") in found or ("bob", "student:alice") in found
    assert {("alice", "reference"), ("bob", "reference")} <= found
    assert not any("carol" in (r["student"], r["other"]) for r in rows)  # stubs: boilerplate
    assert all(r["similarity"] >= similarity.THRESHOLD for r in rows)
    with open(course / "_grading" / "similarity.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(rows)


def test_answers_are_the_solution_cells_only(tmp_path):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell("def f():\n    return 1")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f"}
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np"), answer,
                nbformat.v4.new_markdown_cell("text")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert similarity.answers(path) == "def f():\n    return 1\n"
    assert similarity.answers(tmp_path / "missing.ipynb") == ""
