import numpy as np
import pytest
from numpy.testing import assert_array_equal

from bpcourse import speedrun


def test_shift_images_moves_pixels():
    X = np.zeros((500, 784), np.float32)
    X[:, 14 * 28 + 14] = 1  # one lit pixel in the centre
    rng = np.random.default_rng(0)
    out = speedrun.shift_images(X, 2, rng)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert_array_equal(out.sum(axis=1), 1)  # nothing lost: the pixel is inside the frame
    rows, cols = np.divmod(out.argmax(axis=1), 28)
    assert rows.min() == 12 and rows.max() == 16 and cols.min() == 12 and cols.max() == 16
    assert len({(r, c) for r, c in zip(rows, cols, strict=True)}) == 25
    assert speedrun.shift_images(X, 0, rng) is X


@pytest.mark.slow
def test_train_record_respects_the_budget():
    net, info = speedrun.train_record(budget=3, hidden=(32,), progress=False)
    assert info["seconds"] < 3 + 1.5  # stops after the batch that crosses the budget
    # a fraction of one epoch on a busy machine
    assert 0 < info["epochs"] and info["test_acc"] > 0.7


@pytest.mark.slow
def test_record_run_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("BPCOURSE_RUNS", str(tmp_path))
    info = speedrun.record_run(budget=1, hidden=(16,), max_shift=0)
    assert len(info["curve"]["test_acc"]) >= 1 and info["test_acc"] == info["curve"]["test_acc"][-1]
    monkeypatch.setattr(speedrun, "train_record", lambda **k: pytest.fail("trained again"))
    assert speedrun.record_run(budget=1, hidden=(16,), max_shift=0) == info


def test_record_run_keys_the_full_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("BPCOURSE_RUNS", str(tmp_path))
    calls = []

    def fake(progress, **config):
        calls.append(config)
        return None, {"test_acc": 0.5}

    monkeypatch.setattr(speedrun, "train_record", fake)
    assert speedrun.record_run() == {"test_acc": 0.5}
    # Spelling out a default names the same entry: trained once.
    assert speedrun.record_run(budget=60.0, hidden=[800]) == {"test_acc": 0.5}
    assert calls == [{}] and len(list(tmp_path.glob("record-*.json"))) == 1
    with pytest.raises(TypeError, match=r"unknown record option\(s\) \['budgte'\]"):
        speedrun.record_run(budget=1, budgte=2)
