import numpy as np
import pytest
from numpy.testing import assert_array_equal

import bpcourse as bp


def test_history_fields_and_learning():
    X, y = bp.datasets.linear(200, seed=0)
    Xv, yv = bp.datasets.linear(100, seed=1)
    net = bp.MLP([2, 8, 2], activation="tanh", seed=0)
    hist = bp.fit(net, (X, y), val=(Xv, yv), epochs=30, batch_size=16,
                  optimizer=bp.SGD(lr=0.5), progress=False)
    assert hist["epoch"] == list(range(1, 31))
    for k in ("train_loss", "train_acc", "val_loss", "val_acc", "seconds"):
        assert len(hist[k]) == 30
    assert hist["train_loss"][-1] < hist["train_loss"][0] / 2
    assert hist["val_acc"][-1] >= 0.95
    assert all(s > 0 for s in hist["seconds"])


def test_without_val_records_none():
    X, y = bp.datasets.linear(50, seed=0)
    hist = bp.fit(bp.MLP([2, 3, 2], seed=0), (X, y), epochs=2, progress=False)
    assert hist["val_loss"] == [None, None] and hist["val_acc"] == [None, None]


def test_seed_makes_training_reproducible_and_shuffles():
    X, y = bp.datasets.xor(64, seed=0)
    runs = []
    for seed in (3, 3, 4):
        net = bp.MLP([2, 4, 2], seed=0)
        bp.fit(net, (X, y), epochs=3, batch_size=8, seed=seed, progress=False)
        runs.append(net.params["W1"].copy())
    assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])  # another shuffling order, other weights


def test_xor_is_learned():
    X, y = bp.datasets.xor(200, seed=0)
    net = bp.MLP([2, 8, 1], activation="tanh", output="sigmoid", loss="bce", seed=0)
    bp.fit(net, (X, y), epochs=200, batch_size=20, optimizer=bp.SGD(lr=0.5, momentum=0.9),
           progress=False)
    assert net.accuracy(X, y) == 1.0


def test_nan_loss_stops_with_a_clear_error():
    # A linear output with MSE and a far too large step diverges to inf, then NaN.
    X, y = bp.datasets.linear(256, seed=0)
    net = bp.MLP([2, 16, 1], activation="relu", output="identity", loss="mse", seed=0)
    with pytest.raises(FloatingPointError,
                       match=r"loss became (NaN|inf) at epoch \d+, batch \d+: try a smaller "
                             r"learning rate"):
        bp.fit(net, (X, y), epochs=20, batch_size=32, optimizer=bp.SGD(lr=50.0),
               progress=False)


def test_fit_rejects_bad_data():
    X, y = bp.datasets.linear(20, seed=0)
    net = bp.MLP([2, 3, 2], seed=0)
    with pytest.raises(ValueError, match="train X has 3 columns"):
        bp.fit(net, (np.ones((20, 3)), y), epochs=1, progress=False)
    with pytest.raises(ValueError, match="train y has labels out of range"):
        bp.fit(net, (X, y + 5), epochs=1, progress=False)
    with pytest.raises(ValueError, match="20 rows but train y has 19"):
        bp.fit(net, (X, y[:19]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="val X has 1 columns"):
        bp.fit(net, (X, y), val=(np.ones((4, 1)), y[:4]), epochs=1, progress=False)
    with pytest.raises(TypeError, match="train must be a pair"):
        bp.fit(net, X, epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        bp.fit(net, (X, y), epochs=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        bp.fit(net, (X, y), batch_size=0, progress=False)


def test_progress_bar_goes_to_stderr(capsys):
    X, y = bp.datasets.linear(32, seed=0)
    bp.fit(bp.MLP([2, 3, 2], seed=0), (X, y), epochs=2, batch_size=8, progress=True)
    err = capsys.readouterr().err
    assert "8/8" in err and "loss=" in err


def test_evaluate(rng):
    X, y = bp.datasets.linear(40, seed=0)
    net = bp.MLP([2, 3, 2], seed=0)
    loss, acc = bp.evaluate(net, X, y)
    P = net.forward(X)
    assert loss == pytest.approx(net.loss(P, y))
    assert acc == net.accuracy(X, y)


def test_hooks_are_called():
    X, y = bp.datasets.linear(40, seed=0)
    net = bp.MLP([2, 3, 2], seed=0)
    seen, epochs = [], []
    bp.fit(net, (X, y), epochs=2, batch_size=16, progress=False,
           on_batch=lambda n, g, e, b: seen.append((e, b, sorted(g))),
           on_epoch=lambda n, h: epochs.append(list(h["epoch"])))
    assert [s[:2] for s in seen] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert seen[0][2] == ["W1", "W2", "b1", "b2"]
    assert epochs == [[1], [1, 2]]


def test_on_batch_returning_true_stops_training():
    X, y = bp.datasets.linear(64, seed=0)
    net = bp.MLP([2, 3, 2], seed=0)
    calls = []

    def stop_at_fifth(net, grads, epoch, batch):
        calls.append((epoch, batch))
        return len(calls) == 5

    hist = bp.fit(net, (X, y), epochs=10, batch_size=16, progress=False,
                  on_batch=stop_at_fifth)
    assert calls[-1] == (2, 1) and len(calls) == 5
    assert hist["epoch"] == [1, 2]  # the partial second epoch is recorded


def test_on_epoch_returning_true_stops_after_that_epoch():
    """Early stopping: on_epoch sees each finished epoch and may end training there."""
    X, y = bp.datasets.linear(64, seed=0)
    net = bp.MLP([2, 3, 2], seed=0)
    hist = bp.fit(net, (X, y), val=(X, y), epochs=10, batch_size=16, progress=False,
                  on_epoch=lambda net, hist: len(hist["epoch"]) == 3)
    assert hist["epoch"] == [1, 2, 3] and len(hist["val_acc"]) == 3


def test_fit_validates_its_data_once_not_per_batch(monkeypatch):
    from bpcourse import _validation

    calls = []
    check_X = _validation.check_X
    monkeypatch.setattr(_validation, "check_X", lambda *a, **k: calls.append(1) or check_X(*a, **k))
    X, y = bp.datasets.linear(64, seed=0)
    net = bp.MLP([2, 4, 1], output="sigmoid", loss="bce", seed=0)
    bp.fit(net, (X, y), val=(X, y), epochs=2, batch_size=8, progress=False)
    assert len(calls) == 2  # train X and val X, not 2 x 8 batches


def _blas_threads_now():
    from threadpoolctl import threadpool_info
    return max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")


def test_evaluation_threads_are_chosen_from_the_product_sizes():
    from bpcourse import threads
    assert threads.blas_threads([784, 128, 10], 64, 2) == 1       # 6.4 million multiply-adds
    assert threads.blas_threads([784, 128, 10], 10000, 2) == 2    # evaluation: 1 billion
    assert threads.blas_threads([784, 800, 10], 32, 2) == 2       # 20 million: a wide layer
    assert threads.blas_threads([784, 800, 10], 32, 1) == 1       # never above what is allowed


@pytest.mark.parametrize(("sizes", "batch", "outer", "expected"), [
    ([20, 16, 2], 8, None, {1}),               # below a million multiply-adds: one, untimed
    ([1000, 1000, 10], 64, None, "both"),      # 64 million: one and every thread are timed
    ([1000, 1000, 10], 64, 1, {1}),            # ... but never above the caller's limit
])
def test_fit_trains_with_the_chosen_threads_and_restores_them(sizes, batch, outer, expected):
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40 * batch, sizes[0])), rng.integers(0, 2, 40 * batch)
    seen = []
    with threadpool_limits(outer, user_api="blas"):
        before = _blas_threads_now()
        bp.fit(bp.MLP(sizes, seed=0), (X, y), epochs=1, batch_size=batch, progress=False,
               on_batch=lambda *a: seen.append(_blas_threads_now()))
        assert _blas_threads_now() == before  # restored after training
    assert set(seen) == ({1, before} if expected == "both" else expected)


@pytest.mark.serial  # times sleeps of 0.2 and 2 ms: a busy machine blurs them
@pytest.mark.parametrize("slow", [1, 2])
def test_the_tuner_keeps_the_faster_count_and_follows_a_change(slow, monkeypatch):
    """Steps that are slower with ``slow`` threads: the tuner settles on the other count,
    and after the cost flips, the next trial moves it back."""
    import time

    from bpcourse import threads
    if threads.available() < 2:
        pytest.skip("OpenBLAS has one thread here: there is nothing to choose")
    monkeypatch.setattr(threads, "RETRIAL_SECONDS", 0.2)
    monkeypatch.setattr(threads, "TRIAL_SECONDS", 0.01)
    before = _blas_threads_now()

    def run(tuner, slow, seconds):
        t = time.perf_counter()
        while time.perf_counter() - t < seconds:
            tuner.begin()
            time.sleep(0.002 if _blas_threads_now() == slow else 0.0002)
            tuner.end()
        return _blas_threads_now()

    with threads.Tuner((1, 2)) as tuner:
        assert run(tuner, slow, 0.3) == 3 - slow
        assert run(tuner, 3 - slow, 0.6) == slow  # the load changed: it follows
        assert tuner.steps[1] > 0 and tuner.steps[2] > 0
    assert _blas_threads_now() == before


def test_fit_threads_argument_fixes_the_count():
    X, y = bp.datasets.linear(64, seed=0)
    seen = []
    bp.fit(bp.MLP([2, 4, 2], seed=0), (X, y), epochs=1, batch_size=16, progress=False,
           threads=2, on_batch=lambda *a: seen.append(_blas_threads_now()))
    assert set(seen) == {2}


def test_eval_every_and_diverged_attributes():
    X, y = bp.datasets.linear(100, seed=0)
    hist = bp.fit(bp.MLP([2, 4, 2], seed=0), (X, y), val=(X, y), epochs=5, eval_every=2,
                  progress=False)
    assert [v is not None for v in hist["val_acc"]] == [False, True, False, True, True]
    with pytest.raises(ValueError, match="eval_every must be a positive integer, got 0"):
        bp.fit(bp.MLP([2, 4, 2], seed=0), (X, y), eval_every=0, progress=False)
    X, y = bp.datasets.linear(256, seed=0)  # as in test_nan_loss_stops_with_a_clear_error
    net = bp.MLP([2, 16, 1], activation="relu", output="identity", loss="mse", seed=0)
    with pytest.raises(bp.train.Diverged) as err:
        bp.fit(net, (X, y), epochs=20, batch_size=32, optimizer=bp.SGD(lr=50.0),
               progress=False)
    assert isinstance(err.value, FloatingPointError) and err.value.lr == 50.0
    assert err.value.epoch >= 1 and 1 <= err.value.batch <= 8
    assert f"at epoch {err.value.epoch}, batch {err.value.batch}:" in str(err.value)
