from pathlib import Path

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


def test_distort_images_rotates_scales_and_shifts_about_the_centre():
    rng = np.random.default_rng(0)
    X = rng.random((600, 784)).astype(np.float32)
    assert_array_equal(speedrun.distort_images(X, rng, 0, 0, 0), X)  # no distortion: exact
    # A lit pixel 6 px right of the centre: rotation and scale move it along a circle's arc.
    one = np.zeros((600, 784), np.float32)
    one[:, 14 * 28 + 20] = 1
    out = speedrun.distort_images(one, rng, max_shift=0, max_rotate=30, max_scale=0)
    assert out.shape == one.shape and out.dtype == one.dtype
    ys, xs = np.mgrid[0:28, 0:28].reshape(2, 784) - 13.5
    mass = out.sum(axis=1)
    cy, cx = (out @ ys) / mass, (out @ xs) / mass  # where each image's light went
    # The pixel's centre is (0.5, 6.5) from the image's: radius 6.52, angle 4.4 degrees.
    radius, turn = np.hypot(cy, cx), np.degrees(np.arctan2(cy, cx) - np.arctan2(0.5, 6.5))
    assert np.allclose(radius, np.hypot(0.5, 6.5), atol=0.3) and np.abs(turn).max() <= 30.5
    assert np.abs(turn).max() > 25  # the angles really spread over the range
    shifted = speedrun.distort_images(one, rng, max_shift=2, max_rotate=0, max_scale=0)
    cx = (shifted @ xs) / shifted.sum(axis=1)
    assert 6.5 - 2 - 1e-3 <= cx.min() < 5.5 and 7.5 < cx.max() <= 6.5 + 2 + 1e-3


@pytest.mark.slow
@pytest.mark.serial  # a wall-clock budget, and the affine run needs a free core
@pytest.mark.parametrize("augment", ["affine", "shift"])
def test_train_record_respects_the_budget(augment, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the buffers go without /dev/shm
    before = set(Path("/dev/shm").glob("bpcourse-record-*")) if Path("/dev/shm").is_dir() else set()
    # 8 s: the second process loads MNIST and distorts 60,000 images (~2.5 s) before its first
    # epoch is ready, and the small network trains an epoch in well under a second.
    net, info = speedrun.train_record(budget=8, hidden=(32,), augment=augment, progress=False)
    assert info["seconds"] < 8 + 1.5  # stops after the batch (or the wait) that crosses it
    assert 0 < info["epochs"] and info["test_acc"] > 0.7 and info["augment"] == augment
    assert 0 <= info["waited"] <= info["seconds"]
    if augment == "affine":  # the second process distorted at least one epoch, then left
        assert info["epochs"] > 1 and len(info["curve"]["test_acc"]) >= 2
    if Path("/dev/shm").is_dir():
        assert set(Path("/dev/shm").glob("bpcourse-record-*")) == before  # buffers removed
    with pytest.raises(ValueError, match="augment must be one of"):
        speedrun.train_record(budget=1, augment="elastic")


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
