"""Record in the student's kernel, replay in the grader: the pieces, without nbgrader."""

import json

import nbformat
import numpy as np
import pytest

from bpcourse.grading import BEHAVIOURS, reference
from bpcourse.grading.preprocessors import analyse
from bpcourse.grading.replay import decode, encode, explain, read_records, record, replay


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
    fn = getattr(reference, BEHAVIOURS[name].function)
    r = _recorded(tmp_path, monkeypatch, name, fn, {} if name == "mlp_backward" else None)
    assert r["status"] == "passed"
    found = replay(name, r)
    assert (found.passed, found.message, found.outcome) == (True, "", "passed")


def test_a_wrong_function_fails_in_the_grader_with_the_teaching_message(tmp_path, monkeypatch):
    r = _recorded(tmp_path, monkeypatch, "sigmoid_prime", reference.sigmoid)
    found = replay("sigmoid_prime", r)
    assert not found.passed and found.outcome == "failed" and "sigma(z) itself" in found.message
    assert found.mistake == "sigmoid_itself"  # a field, for the summary


def test_an_unwritten_function_replays_as_not_written(tmp_path, monkeypatch):
    def relu(z):
        raise NotImplementedError()

    found = replay("relu", _recorded(tmp_path, monkeypatch, "relu", relu))
    assert (found.passed, found.outcome, found.mistake) == (False, "not_written", None)


def test_a_failed_visible_test_records_its_diagnosis(tmp_path, monkeypatch):
    """explain's diagnosis travels to the grader as a recording, kept apart from record's."""
    path = tmp_path / "record.jsonl"
    monkeypatch.setenv("BPCOURSE_RECORD_PATH", str(path))
    sigmoid_prime = reference.sigmoid
    with pytest.raises(AssertionError) as err:
        with explain("sigmoid_prime", sigmoid_prime):
            assert np.isclose(sigmoid_prime(0.0), 0.25), "sigmoid_prime(0) should be 0.25"
    assert err.value.mistake == "sigmoid_itself"
    assert read_records(path) == {}  # no hidden test ran
    found = replay("sigmoid_prime", read_records(path, via="explain")["sigmoid_prime"])
    assert found.mistake == "sigmoid_itself"


def test_patched_numpy_in_the_kernel_does_not_fool_the_grader(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "isclose", lambda *a, **k: True)
    r = _recorded(tmp_path, monkeypatch, "sigmoid_prime", reference.sigmoid)
    monkeypatch.undo()
    assert r["status"] == "passed"  # the kernel's view
    assert not replay("sigmoid_prime", r).passed  # the grader's


def test_an_always_equal_object_arrives_opaque(tmp_path, monkeypatch):
    class Yes:
        def __eq__(self, other):
            return True

    r = _recorded(tmp_path, monkeypatch, "relu", lambda z: Yes())
    found = replay("relu", r)
    assert not found.passed and "expected floating-point values" in found.message


def test_in_place_edits_are_replayed(tmp_path, monkeypatch):
    def relu(z):
        z[z < 0] = 0
        return z

    r = _recorded(tmp_path, monkeypatch, "relu", relu)
    found = replay("relu", r)
    assert not found.passed and "in place" in found.message and found.mistake == "in_place"


def test_an_update_that_replaces_the_arrays_is_replayed_as_such(tmp_path, monkeypatch):
    """The record keeps which dict entries became new objects, so the grader sees it too."""
    def sgd_step(params, grads, lr):
        for key, p in list(params.items()):
            params[key] = p - lr * grads[key]

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    found = replay("sgd_step", _recorded(tmp_path / "a", monkeypatch, "sgd_step", sgd_step))
    assert (found.passed, found.mistake) == (False, "rebound")

    def honest(params, grads, lr):
        for key, p in params.items():
            p -= lr * grads[key]

    assert replay("sgd_step", _recorded(tmp_path / "b", monkeypatch, "sgd_step", honest)).passed


def test_forged_or_truncated_records(tmp_path):
    path = tmp_path / "r.jsonl"
    good = {"check": "relu", "calls": [], "status": "passed"}
    path.write_text(json.dumps(good) + "\nnot json\n" + json.dumps({"check": "nope"}) + "\n")
    recs = read_records(path)
    assert set(recs) == {"relu"}
    found = replay("relu", recs["relu"])
    # No calls recorded: the check's first call has no answer.
    assert not found.passed and found.outcome == "mismatch"
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    assert read_records(path) == {"relu": None}  # recorded twice: neither is trusted


def test_junk_and_floods_on_the_record_channel_are_tampering(tmp_path):
    from bpcourse.grading.replay import channel_problems

    path = tmp_path / "r.jsonl"
    good = json.dumps({"check": "relu", "calls": [], "status": "passed"}).encode()
    path.write_bytes(good + b"\n\xff\xfe not utf-8\n[1, 2]\n\n")
    assert set(read_records(path)) == {"relu"}  # the junk does not hide the record
    (problem,) = channel_problems(path)
    assert "2 line(s) on the record channel are not records" in problem
    assert read_records(path, limit=10) == {}
    assert "more than" in channel_problems(path, limit=10)[0]
    path.write_bytes(good + b"\n")
    assert channel_problems(path) == []


def test_encode_decode_plain_data_only():
    x = {"a": np.arange(6.0).reshape(2, 3), "b": [1, 2.5, None, "s"], "c": (np.float32(1),)}
    y = decode(json.loads(json.dumps(encode(x))))
    assert np.array_equal(y["a"], x["a"]) and y["b"] == x["b"] and y["c"][0].dtype == np.float32
    assert type(decode({"nd": "|O", "shape": [1], "b64": ""})).__mro__[1].__name__ == "Opaque"
    assert type(decode({"nd": "<f8", "shape": [3], "b64": "AAAA"})).__name__ == "malformed"


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
