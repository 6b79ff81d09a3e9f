"""The grading preprocessors one at a time, on small fixture notebooks (no nbgrader run).

Each fixture is a few cells built here with the metadata nbgrader gives them; the full
autograde of real submissions is in test_assignments.py and test_grading_adversarial.py.
"""

import os
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from bpcourse.grading import driver, reference
from bpcourse.grading.channel import Channel, Verdict
from bpcourse.grading.kernel import CHANNEL, explain, record
from bpcourse.grading.preprocessors import (
    GraderVerdict,
    GuardCells,
    SandboxedExecute,
    StripHiddenTests,
)


def _code(src, grade_id=None, *, kind=None, points=None, outputs=()):
    cell = nbformat.v4.new_code_cell(src)
    cell.pop("id", None)
    cell.outputs = list(outputs)
    if kind:
        meta = {"answer": dict(solution=True, grade=False, locked=False),
                "test": dict(solution=False, grade=True, locked=True, points=points),
                "locked": dict(solution=False, grade=False, locked=True)}[kind]
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3,
                                     "task": False, **meta}
    return cell


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.nbformat_minor = 4  # like the course's notebooks: no cell ids
    return nb


def _error(ename, evalue):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])


# -- GraderVerdict -----------------------------------------------------------------------
@pytest.fixture
def decided(monkeypatch):
    """A ps1-like notebook after its kernel ran: what the verdict makes of each test cell."""
    folder = tempfile.mkdtemp(prefix="chan-")
    ch = Channel(os.path.join(folder, "channel.sock"), key="0" * 64)
    monkeypatch.setenv(CHANNEL, ch.path)
    ch.cell = "test_relu"
    record("relu", lambda z: reference.relu(z))  # the hidden tests of an honest relu
    ch.cell = "test_sigmoid_prime"
    record("sigmoid_prime", lambda z: reference.sigmoid(z))  # ... of one returning sigma
    ch.cell = "test_relu_prime"
    with pytest.raises(AssertionError):  # a visible test of relu_prime fails
        with explain("relu_prime", reference.relu):
            raise AssertionError("relu_prime([-2, 3]) should be [0, 1]")
    ch.close()
    os.rmdir(folder)
    monkeypatch.delenv(CHANNEL)
    nb = _notebook(
        _code("def relu(z): ...", "relu", kind="answer"),
        _code("record('relu', relu)", "test_relu", kind="test", points=1),
        _code("record('sigmoid_prime', sigmoid_prime)", "test_sigmoid_prime", kind="test",
              points=2),
        _code("...", "test_relu_prime", kind="test", points=1,
              outputs=[_error("CheckFailed", "relu_prime([-2, 3]) should be [0, 1]")]),
        _code("...", "test_tanh", kind="test", points=1,
              outputs=[_error("CellTimeoutError", "")]),
        _code("...", "test_tanh_prime", kind="test", points=1),  # its check never ran
        _code("...", "test_not_a_behaviour", kind="test", points=1),
    )
    resources = {"bpcourse": {"verdicts": ch.verdicts, "cells": {4: "timeout"}}}
    nb, _ = GraderVerdict().preprocess(nb, resources)
    return nb


def test_verdict_fields_per_test_cell(decided):
    cells = decided.metadata["bpcourse_grading"]["cells"]
    got = {gid: (v["outcome"], v["mistake"]) for gid, v in cells.items()}
    assert got == {
        "test_relu": ("passed", None),
        "test_sigmoid_prime": ("failed", "sigmoid_itself"),
        # The mistake of a failed visible test comes from the grader's own check of the
        # function (the diagnosis), not from the kernel's message.
        "test_relu_prime": ("failed", "activation_as_input"),
        "test_tanh": ("timeout", None),
        "test_tanh_prime": ("no_result", None),
    }


def test_verdict_outputs_are_the_message_alone(decided):
    outs = {c.metadata["nbgrader"]["grade_id"]: c.outputs for c in decided.cells[1:6]}
    assert outs["test_relu"] == []  # nbgrader scores a cell without an error output full
    for gid in ("test_sigmoid_prime", "test_relu_prime", "test_tanh", "test_tanh_prime"):
        assert [o["output_type"] for o in outs[gid]] == ["error"], gid
    assert "sigma(z) itself" in outs["test_sigmoid_prime"][0]["evalue"]


def test_summary_reads_the_fields(decided, tmp_path):
    path = tmp_path / "ps1.ipynb"
    nbformat.write(decided, path)
    assert driver.problems_of(path) == [
        "test_sigmoid_prime: sigmoid_itself", "test_relu_prime: activation_as_input",
        "test_tanh: timed out (cut off)",
        "test_tanh_prime: no result (the hidden tests did not run to the end)"]


def test_a_check_whose_results_never_came_back_has_no_result():
    nb = _notebook(_code("...", "test_relu", kind="test", points=1))
    broken = Verdict(False, "the check did not get its results back", outcome="broken")
    nb, _ = GraderVerdict().preprocess(nb, {"bpcourse": {"verdicts": {
        ("relu", "record"): broken}}})
    assert nb.metadata["bpcourse_grading"]["cells"]["test_relu"]["outcome"] == "no_result"


# -- GuardCells --------------------------------------------------------------------------
def test_guard_notes_deleted_edited_and_unknown_cells(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    # nbgrader runs `alembic` from PATH to create the gradebook.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db) as gb:
        gb.add_assignment("ps1")
        gb.add_notebook("ps1", "ps1")
        gb.add_solution_cell("relu", "ps1", "ps1")
        for name in ("test_relu", "test_tanh"):
            gb.add_grade_cell(name, "ps1", "ps1", max_score=1, cell_type="code")
    nb = _notebook(
        _code("def relu(z): ...", "relu", kind="answer"),
        _code("pass", "test_relu", kind="test", points=100),  # its points raised
        _code("pass", "bonus", kind="test", points=50),  # unknown to the gradebook
        _code("x = 1"),  # test_tanh deleted
    )
    nb.metadata["bpcourse_grading"] = {"events": ["forged by the student"]}
    resources = {"nbgrader": {"db_url": db, "notebook": "ps1", "assignment": "ps1"}}
    nb, _ = GuardCells().preprocess(nb, resources)
    events = nb.metadata["bpcourse_grading"]["events"]
    assert len(events) == 3 and "forged by the student" not in events
    assert "test_relu had its metadata edited" in events[0]
    assert "'bonus', unknown to the gradebook" in events[1]
    assert "test_tanh deleted" in events[2]
    assert "nbgrader" not in nb.cells[2].metadata  # the fake grade cell is no longer graded


# -- StripHiddenTests --------------------------------------------------------------------
def test_hidden_tests_leave_the_feedback():
    src = ('"""relu: values (1 point)."""\nassert relu(1) == 1\n### BEGIN HIDDEN TESTS\n'
           'record("relu", relu)\n### END HIDDEN TESTS')
    nb = _notebook(_code(src, "test_relu", kind="test", points=1), _code(src))
    nb, _ = StripHiddenTests().preprocess(nb, {})
    assert nb.cells[0].source == ('"""relu: values (1 point)."""\nassert relu(1) == 1\n'
                                  "# (hidden tests: run by the grader)")
    assert nb.cells[1].source == src  # not a graded cell: left alone


# -- SandboxedExecute --------------------------------------------------------------------
@pytest.mark.slow
def test_execute_notes_a_timeout_and_runs_on(tmp_path, monkeypatch):
    """A cell cut off at its limit is noted by index (a field); the next cells still run."""
    monkeypatch.chdir(tmp_path)
    nb = _notebook(_code("x = 1"), _code("while True:\n    pass"), _code("print(x + 1)"))
    execute = SandboxedExecute(timeout=3)
    resources = {}
    nb, resources = execute.preprocess(nb, resources)
    assert resources["bpcourse"]["cells"] == {1: "timeout"}
    assert any("cell 1 cut off" in e for e in resources["bpcourse"]["events"])
    assert nb.cells[2].outputs[0]["text"] == "2\n"


def test_every_limit_is_set_in_nbgrader_config():
    """nbgrader_config.py is the one place for the grading's limits: each cap of the
    executor is set there explicitly, and an executor made from it takes them."""
    from traitlets import Integer

    cfg = driver.course_config(Path(__file__).resolve().parents[1])
    caps = {name for name, t in SandboxedExecute.class_own_traits(config=True).items()
            if isinstance(t, Integer)}
    assert caps >= {"memory_mb", "cpu_seconds", "nproc", "fsize_mb", "scratch_mb",
                    "max_output", "notebook_seconds", "max_message_mb"}
    assert caps <= set(cfg.SandboxedExecute), caps - set(cfg.SandboxedExecute)
    assert isinstance(cfg.ExecutePreprocessor.get("timeout"), int)
    ex = SandboxedExecute(config=cfg)
    assert all(getattr(ex, name) == cfg.SandboxedExecute[name] for name in caps)
    assert ex.timeout == cfg.ExecutePreprocessor.timeout
