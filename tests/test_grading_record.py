"""Record in the student's kernel, replay in the grader: the pieces, without nbgrader."""

import json

import nbformat
import numpy as np
import pytest

from bpcourse.grading import CHECKS, reference
from bpcourse.grading.harden import analyse, check_of, function_of
from bpcourse.grading.record import decode, encode, read_records, record, replay


def _recorded(tmp_path, monkeypatch, name, fn, ns=None):
    path = tmp_path / "record.jsonl"
    monkeypatch.setenv("BPCOURSE_RECORD_PATH", str(path))
    record(name, fn, ns)
    monkeypatch.delenv("BPCOURSE_RECORD_PATH")
    return read_records(path)[name]


@pytest.mark.parametrize("name", ["sigmoid", "relu", "softmax_stable", "dense_backward_db",
                                  "mlp_backward", "sgd_step", "minibatches_shuffled",
                                  "save_model"])
def test_an_honest_recording_replays_to_the_same_verdict(tmp_path, monkeypatch, name):
    fn = getattr(reference, function_of(name))
    r = _recorded(tmp_path, monkeypatch, name, fn, {} if name == "mlp_backward" else None)
    assert r["status"] == "passed"
    assert replay(name, r)[:2] == (True, "")


def test_a_wrong_function_fails_in_the_grader_with_the_teaching_message(tmp_path, monkeypatch):
    r = _recorded(tmp_path, monkeypatch, "sigmoid_prime", reference.sigmoid)
    ok, msg, _, mismatch = replay("sigmoid_prime", r)
    assert not ok and not mismatch and "sigma(z) itself" in msg


def test_patched_numpy_in_the_kernel_does_not_fool_the_grader(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "isclose", lambda *a, **k: True)
    r = _recorded(tmp_path, monkeypatch, "sigmoid_prime", reference.sigmoid)
    monkeypatch.undo()
    assert r["status"] == "passed"  # the kernel's view
    assert not replay("sigmoid_prime", r)[0]  # the grader's


def test_an_always_equal_object_arrives_opaque(tmp_path, monkeypatch):
    class Yes:
        def __eq__(self, other):
            return True

    r = _recorded(tmp_path, monkeypatch, "relu", lambda z: Yes())
    ok, msg, _, _ = replay("relu", r)
    assert not ok and "expected floating-point values" in msg


def test_in_place_edits_are_replayed(tmp_path, monkeypatch):
    def relu(z):
        z[z < 0] = 0
        return z

    r = _recorded(tmp_path, monkeypatch, "relu", relu)
    ok, msg, _, _ = replay("relu", r)
    assert not ok and "in place" in msg


def test_forged_or_truncated_records(tmp_path):
    path = tmp_path / "r.jsonl"
    good = {"check": "relu", "calls": [], "status": "passed"}
    path.write_text(json.dumps(good) + "\nnot json\n" + json.dumps({"check": "nope"}) + "\n")
    recs = read_records(path)
    assert set(recs) == {"relu"}
    ok, _, _, mismatch = replay("relu", recs["relu"])
    assert not ok and mismatch  # no calls recorded: the check's first call has no answer
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    assert read_records(path) == {"relu": None}  # recorded twice: neither is trusted


def test_encode_decode_plain_data_only():
    x = {"a": np.arange(6.0).reshape(2, 3), "b": [1, 2.5, None, "s"], "c": (np.float32(1),)}
    y = decode(json.loads(json.dumps(encode(x))))
    assert np.array_equal(y["a"], x["a"]) and y["b"] == x["b"] and y["c"][0].dtype == np.float32
    assert type(decode({"nd": "|O", "shape": [1], "b64": ""})).__mro__[1].__name__ == "Opaque"
    assert type(decode({"nd": "<f8", "shape": [3], "b64": "AAAA"})).__name__ == "malformed"


def test_every_test_cell_records_its_check():
    from pathlib import Path

    from bpcourse.grading.driver import build_sources

    for path in build_sources(Path(__file__).resolve().parents[1]):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                check = check_of(meta["grade_id"])
                assert check in CHECKS
                assert f'record("{check}", {function_of(check)}' in cell.source


def _cell(src, kind):
    cell = nbformat.v4.new_code_cell(src)
    meta = {"answer": {"solution": True, "grade": False}, "locked": {"locked": True}}
    if kind in meta:
        cell.metadata["nbgrader"] = {"grade_id": "x", **meta[kind]}
    return cell


def test_static_rules():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("import numpy as np\nimport bpcourse as bp", "locked"),
        _cell("def relu(z):\n    return bp.activations.relu(z)", "answer"),
        _cell("def tanh(z):\n    return np.tanh(z)", "answer"),
        _cell("from bpcourse.activations import sigmoid as s", "student"),
        _cell("def sigmoid(z):\n    return s(z)", "answer"),
        _cell("np.allclose = lambda *a, **k: True\ntanh = np.tanh", "student"),
    ]
    flags, events = analyse(nb, {"relu", "tanh", "sigmoid"})
    assert set(flags) == {"relu", "sigmoid", "tanh"}
    assert "defined again" in flags["tanh"] and "reference" in flags["relu"]
    assert any("np.allclose" in e for e in events)
