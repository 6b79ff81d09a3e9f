import json

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import bpcourse as bp


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_is_bit_identical(tmp_path, dtype, rng):
    net = bp.MLP([5, 7, 3, 2], activation="tanh", output="sigmoid", loss="bce", seed=3,
                 dtype=dtype)
    net.params["W1"][0, 0] = -0.0
    net.params["b2"][0] = np.finfo(dtype).tiny  # a subnormal-adjacent value survives too
    path = bp.save_json(net, tmp_path / "m.json")
    back = bp.load_json(path)
    assert (back.sizes, back.activation, back.output, back.loss_name, back.dtype, back.init) == \
        (net.sizes, net.activation, net.output, net.loss_name, net.dtype, net.init)
    for k, v in net.params.items():
        assert back.params[k].dtype == v.dtype
        assert back.params[k].tobytes() == v.tobytes()
    X = rng.standard_normal((4, 5))
    assert_array_equal(back.forward(X), net.forward(X))


def test_load_accepts_nested_lists(tmp_path):
    net = bp.MLP([2, 2], activation="relu", output="softmax", seed=0)
    doc = json.loads(bp.save_json(net, tmp_path / "m.json").read_text())
    doc["params"] = {k: v.tolist() for k, v in net.params.items()}
    (tmp_path / "hand.json").write_text(json.dumps(doc))
    back = bp.load_json(tmp_path / "hand.json")
    for k, v in net.params.items():
        assert_array_equal(back.params[k], v)


def _saved(tmp_path):
    net = bp.MLP([3, 4, 2], seed=0)
    return bp.save_json(net, tmp_path / "m.json")


def test_truncated_file(tmp_path):
    path = _saved(tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="not valid JSON"):
        bp.load_json(path)


def test_damaged_weights_fail_checksum(tmp_path):
    path = _saved(tmp_path)
    doc = json.loads(path.read_text())
    data = doc["params"]["W1"]["data"]
    doc["params"]["W1"]["data"] = ("B" if data[0] != "B" else "C") + data[1:]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="'W1' does not match its checksum"):
        bp.load_json(path)


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.pop("sizes"), "lacks the field"),
    (lambda d: d.update(format="other"), "not a bpcourse model"),
    (lambda d: d["params"].pop("b2"), "params must have keys"),
    (lambda d: d["params"]["W1"].update(shape=[4, 3]), "'W1' has shape"),
    (lambda d: d["params"]["W2"].update(data="!!not base64!!"), "'W2' is damaged"),
    (lambda d: d.update(activation="swish"), "unknown activation 'swish'"),
])
def test_malformed_fields(tmp_path, edit, match):
    path = _saved(tmp_path)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match):
        bp.load_json(path)


def test_binary_garbage(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match="model file"):
        bp.load_json(path)


def test_dropout_is_saved_and_read_back(tmp_path):
    net = bp.MLP([4, 6, 2], dropout=0.3, seed=0)
    back = bp.load_json(bp.save_json(net, tmp_path / "m.json"))
    assert back.dropout == 0.3
    doc = json.loads((tmp_path / "m.json").read_text())
    del doc["dropout"]  # a file written before dropout existed reads as no dropout
    (tmp_path / "old.json").write_text(json.dumps(doc))
    assert bp.load_json(tmp_path / "old.json").dropout == 0.0
