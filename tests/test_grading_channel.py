"""The grading channel without nbgrader: the grader's checks call a function served by "the kernel".

Here the kernel's side (``kernel.record``, ``explain``) runs in the test's thread and the
grader's (``channel.Channel``) in its serving thread, over a real Unix socket, with the
wire format both use when grading.
"""

import json
import os
import socket
import struct
import tempfile

import nbformat
import numpy as np
import pytest

from bpcourse.grading import BEHAVIOURS, checks, reference
from bpcourse.grading.channel import Channel, course_key, key_id
from bpcourse.grading.kernel import CHANNEL, decode, encode, explain, record
from bpcourse.grading.preprocessors import analyse


@pytest.fixture
def grader(monkeypatch):
    """A Channel on a fresh socket, the kernel's side pointed at it; ``.key`` settable."""
    folder = tempfile.mkdtemp(prefix="chan-")  # short: a socket path has 108 bytes at most
    ch = Channel(os.path.join(folder, "channel.sock"), key="0" * 64)
    monkeypatch.setenv(CHANNEL, ch.path)
    yield ch
    ch.close()
    os.rmdir(folder)


def _check(ch, name, fn, ns=None):
    ch.cell = BEHAVIOURS[name].cell
    record(name, fn, ns)
    return ch.verdicts[(name, "record")]


@pytest.mark.parametrize("name", ["sigmoid", "relu", "softmax_stable", "dense_backward_db",
                                  "mlp_backward", "sgd_step", "minibatches_shuffled",
                                  "minibatches_cover", "save_model", "mlp_forward_cache"])
def test_the_reference_served_from_the_kernel_passes(grader, name):
    fn = getattr(reference, BEHAVIOURS[name].function)
    ns = {} if BEHAVIOURS[name].needs_namespace else None
    v = _check(grader, name, fn, ns)
    assert (v.passed, v.message, v.outcome) == (True, "", "passed"), v.message
    assert grader.events == []


def test_a_wrong_function_fails_in_the_grader_with_the_teaching_message(grader):
    v = _check(grader, "sigmoid_prime", reference.sigmoid)
    assert not v.passed and v.outcome == "failed" and "sigma(z) itself" in v.message
    assert v.mistake == "sigmoid_itself"  # a field, for the summary


def test_an_unwritten_function_is_not_written(grader):
    def relu(z):
        raise NotImplementedError()

    v = _check(grader, "relu", relu)
    assert (v.passed, v.outcome, v.mistake) == (False, "not_written", None)


def test_a_failed_visible_test_gets_the_graders_diagnosis(grader):
    """explain's diagnosis is the grader's own check, kept apart from the hidden test's."""
    grader.cell = BEHAVIOURS["sigmoid_prime"].cell
    sigmoid_prime = reference.sigmoid
    with pytest.raises(AssertionError) as err:
        with explain("sigmoid_prime", sigmoid_prime):
            assert np.isclose(sigmoid_prime(0.0), 0.25), "sigmoid_prime(0) should be 0.25"
    assert err.value.mistake == "sigmoid_itself"
    assert set(grader.verdicts) == {("sigmoid_prime", "explain")}  # no hidden test ran
    assert grader.verdicts[("sigmoid_prime", "explain")].mistake == "sigmoid_itself"


def test_patched_numpy_in_the_kernel_does_not_fool_the_grader(grader, monkeypatch):
    """The comparisons run in the grader: a kernel that patches them only fools itself.

    (One process here, so the patch is undone before the grader compares; in a real kernel
    the patch never reaches the grader's process at all.)"""
    calls = []

    def sigmoid_prime(z):
        calls.append(1)
        return reference.sigmoid(z)

    v = _check(grader, "sigmoid_prime", sigmoid_prime)
    assert calls and not v.passed


def test_an_always_equal_object_arrives_opaque(grader):
    class Yes:
        def __eq__(self, other):
            return True

    v = _check(grader, "relu", lambda z: Yes())
    assert not v.passed and "expected floating-point values" in v.message


def test_in_place_edits_reach_the_grader(grader):
    def relu(z):
        z[z < 0] = 0
        return z

    v = _check(grader, "relu", relu)
    assert not v.passed and "in place" in v.message and v.mistake == "in_place"


def test_an_update_that_replaces_the_arrays_reaches_the_grader_as_such(grader):
    """The reply says which dict entries became new objects, so the grader sees it too."""
    def sgd_step(params, grads, lr):
        for key, p in list(params.items()):
            params[key] = p - lr * grads[key]

    v = _check(grader, "sgd_step", sgd_step)
    assert (v.passed, v.mistake) == (False, "rebound")


def test_randomness_from_the_given_generator_travels_both_ways(grader):
    """minibatches draws from the grader's rng: its state goes to the kernel and back."""
    def own_rng(X, Y, batch_size, rng):
        order = np.random.default_rng().permutation(len(X))  # not the rng given
        for i in range(0, len(X), batch_size):
            yield X[order[i:i + batch_size]], Y[order[i:i + batch_size]]

    v = _check(grader, "minibatches_shuffled", own_rng)
    assert not v.passed and "use the rng argument" in v.message


def test_inputs_are_drawn_from_the_key(grader):
    """A table of answers computed at home for the public inputs earns nothing."""
    seen = {}
    checks.run("sigmoid", lambda z: seen.setdefault(np.asarray(z).tobytes(),
                                                    reference.sigmoid(z)))
    assert seen  # the public inputs, as a student can compute them at home

    def table(z):
        return seen.get(np.asarray(z).tobytes(), np.zeros_like(np.asarray(z, dtype=float)))

    checks.run("sigmoid", table)  # passes on the public seeds (raises if not)
    v = _check(grader, "sigmoid", table)
    assert not v.passed  # the grader's inputs are not the public ones


def test_the_same_key_draws_the_same_inputs_and_another_key_others():
    def inputs(key):
        got = []
        with checks.keyed(key):
            checks.run("dense_forward", lambda A, W, b: got.append(A.copy()) or
                       reference.dense_forward(A, W, b))
        return got

    a, b, c = inputs("1" * 64), inputs("1" * 64), inputs("2" * 64)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(a, inputs(None), strict=True))


def test_the_course_key_is_made_once_and_private(tmp_path):
    path = tmp_path / "grading.key"
    key = course_key(path)
    assert len(key) == 64 and course_key(path) == key
    assert os.stat(path).st_mode & 0o077 == 0
    assert key_id(key) != key[:8] and len(key_id(key)) == 8


def test_a_session_for_another_cell_is_refused(grader):
    grader.cell = BEHAVIOURS["relu"].cell
    record("sigmoid", reference.sigmoid)  # the running cell is relu's
    assert grader.verdicts == {}
    assert any("refused" in e for e in grader.events)


def test_a_check_runs_once_per_cell(grader):
    assert _check(grader, "relu", reference.relu).passed
    record("relu", lambda z: z)  # a second, forged run of the same check
    assert grader.verdicts[("relu", "record")].passed  # the first verdict stands
    assert any("already checked" in e for e in grader.events)


def test_the_isolated_helpers_answer_only_during_their_check(grader):
    """mlp_backward gets the reference dense_backward as a proxy that dies with the check."""
    kept = {}

    def mlp_backward(*args):
        kept["dense_backward"] = ns["dense_backward"]
        return reference.mlp_backward(*args)

    ns = {}
    assert _check(grader, "mlp_backward", mlp_backward, ns).passed
    assert "dense_backward" not in ns  # restored: the notebook had none
    with pytest.raises(RuntimeError, match="only be called while its check runs"):
        kept["dense_backward"](np.ones((2, 3)), np.ones((2, 4)), np.ones((4, 3)))


def _raw(ch, frames):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ch.path)
    for f in frames:
        s.sendall(f)
    s.shutdown(socket.SHUT_WR)
    # Read until the grader hangs up: it has then noted the junk and stored its verdict
    # (its first reply, "isolates", comes before it reads the junk result).
    while s.recv(100):
        pass
    s.close()


def test_junk_and_oversized_messages_are_tampering_not_a_crash(grader):
    grader.cell = BEHAVIOURS["relu"].cell
    head = json.dumps({"op": "check", "name": "relu"}).encode()
    _raw(grader, [struct.pack(">II", 5, 0), b"\xff\xfe{]x"])
    _raw(grader, [struct.pack(">II", len(head), 0), head,  # then a result past the cap
                  struct.pack(">II", 2, 1), b"{}", struct.pack(">Q", 1 << 40)])
    _raw(grader, [struct.pack(">II", 1 << 30, 0)])
    assert sum("tampering detected" in e for e in grader.events) >= 2
    # The check that got junk back is used up (no second try with inputs seen), and the
    # channel still serves the next cell.
    assert grader.verdicts[("relu", "record")].outcome == "broken"
    assert _check(grader, "sigmoid", reference.sigmoid).passed


def test_encode_decode_plain_data_only():
    x = {"a": np.arange(6.0).reshape(2, 3), "b": [1, 2.5, None, "s"], "c": (np.float32(1),),
         "r": np.random.default_rng(3)}
    bufs = []
    y = decode(json.loads(json.dumps(encode(x, bufs))), bufs)
    assert np.array_equal(y["a"], x["a"]) and y["b"] == x["b"] and y["c"][0].dtype == np.float32
    assert y["r"].random() == np.random.default_rng(3).random()
    assert type(decode({"nd": "|O", "shape": [1], "buf": 0}, [b""])).__mro__[1].__name__ \
        == "Opaque"
    assert type(decode({"nd": "<f8", "shape": [3], "buf": 0}, [b"AAAA"])).__name__ == "malformed"
    assert type(decode({"nd": "<f8", "shape": [1], "buf": 5}, [])).__name__ == "malformed"
    assert type(encode(object(), [])) is dict and "opaque" in encode(object(), [])


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
