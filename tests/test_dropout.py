"""Dropout: MLP(..., dropout=p) drops hidden units in training passes (forward(X, train=True))."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import bpcourse as bp


def _loss_with_mask(net, X, Y, seed):
    # A fresh generator with the same seed draws the same masks: the loss of one fixed
    # dropped-out network, as a function of the parameters.
    return net.loss(net.forward(X, train=True, rng=np.random.default_rng(seed)), Y)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("output,loss", [("softmax", "cross_entropy"), ("identity", "mse"),
                                         ("sigmoid", "bce")])
def test_backward_is_the_gradient_of_the_dropped_out_network(activation, output, loss, rng):
    net = bp.MLP([4, 7, 6, 3], activation=activation, output=output, loss=loss,
                 dropout=0.4, seed=1)
    X = rng.standard_normal((5, 4))
    Y = (bp.one_hot(rng.integers(0, 3, 5), 3) if output == "softmax"
         else rng.integers(0, 2, (5, 3)).astype(float))
    _loss_with_mask(net, X, Y, seed=7)
    masks = net.masks
    assert masks[0] is None and masks[-1] is None and len(masks) == 4
    assert all((D == 0).any() and (D > 0).any() for D in masks[1:-1])  # it does drop
    analytic = net.backward(Y)
    for k, p in net.params.items():
        numeric = bp.numerical_gradient(lambda: _loss_with_mask(net, X, Y, seed=7), p)
        assert bp.relative_error(analytic[k], numeric) < 1e-7, k
    net.forward(X)  # and the mask changes the gradient: without it, another one
    assert not np.allclose(net.backward(Y)["W1"], analytic["W1"])


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_expected_activation_is_unchanged(p):
    # All hidden activations 1 (ReLU of 1): a training pass makes them 0 or 1/(1-p).
    n, width = 2000, 50
    net = bp.MLP([1, width, 2], activation="relu", dropout=p, seed=0)
    net.params["W1"][:] = 1
    net.params["b1"][:] = 0
    net.forward(np.ones((n, 1)), train=True)
    A = net.A[1]
    assert set(np.unique(A)) == {0.0, 1 / (1 - p)}
    N = A.size
    # Each entry has mean 1 and variance p / (1 - p); the mean of N independent entries is
    # off by more than 5 standard deviations with probability below 1e-6.
    assert abs(A.mean() - 1) < 5 * np.sqrt(p / (1 - p) / N)
    assert abs((A == 0).mean() - p) < 5 * np.sqrt(p * (1 - p) / N)


def test_evaluation_is_deterministic_and_drops_nothing(rng):
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    net = bp.MLP([3, 16, 2], dropout=0.5, seed=0)
    plain = bp.MLP([3, 16, 2], seed=0)  # the same weights, no dropout
    state = net.rng.bit_generator.state
    P = net.forward(X)
    assert_array_equal(net.forward(X), P)
    assert_array_equal(plain.forward(X), P)
    assert net.masks == [None, None, None]
    assert_array_equal(net.predict(X), plain.predict(X))
    assert bp.evaluate(net, X, y) == bp.evaluate(plain, X, y)
    assert net.rng.bit_generator.state == state  # evaluation draws nothing
    assert not np.array_equal(net.forward(X, train=True), P)


def test_masks_are_reproducible_from_the_seed(rng):
    X = rng.standard_normal((10, 3))

    def masks(net, **kw):
        net.forward(X, train=True, **kw)
        return net.masks[1]

    a, b = bp.MLP([3, 8, 2], dropout=0.5, seed=3), bp.MLP([3, 8, 2], dropout=0.5, seed=3)
    first = masks(a)
    assert_array_equal(first, masks(b))
    assert not np.array_equal(masks(a), first)  # the next pass draws a new mask
    c = a.copy()  # a copy continues from the same state, independently
    assert_array_equal(masks(c), masks(a))
    assert not np.array_equal(masks(bp.MLP([3, 8, 2], dropout=0.5, seed=4)), first)
    # a generator given by the call overrides the network's, and leaves it alone
    state = a.rng.bit_generator.state
    assert_array_equal(masks(a, rng=np.random.default_rng(9)),
                       masks(b, rng=np.random.default_rng(9)))
    assert a.rng.bit_generator.state == state


def test_fit_trains_with_dropout_and_evaluates_without():
    X, y = bp.datasets.xor(128, seed=0)

    def trained(dropout, val):
        net = bp.MLP([2, 16, 2], activation="tanh", dropout=dropout, seed=0)
        hist = bp.fit(net, (X, y), val=val, epochs=3, batch_size=16,
                      optimizer=bp.SGD(lr=0.5), progress=False)
        return net, hist

    with_val, hist = trained(0.5, (X, y))
    without_val, _ = trained(0.5, None)
    no_dropout, _ = trained(0.0, None)
    for k in with_val.params:  # validating between epochs does not shift the masks
        assert_array_equal(with_val.params[k], without_val.params[k])
    assert not np.array_equal(with_val.params["W1"], no_dropout.params["W1"])
    assert hist["val_loss"][-1] == bp.evaluate(with_val, X, y)[0]  # measured without dropout
    assert with_val.masks == [] and with_val.A == []  # fit leaves no cache behind


class _OldForward(bp.MLP):
    """An MLP whose forward ignores ``train``: the evaluation path, as forward was before."""

    def forward(self, X, *, check=True, train=False, rng=None):
        return super().forward(X, check=check)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_no_dropout_is_bit_for_bit_the_old_network(dtype, rng):
    X, y = bp.datasets.xor(128, seed=0)
    runs = []
    for cls, kw in ((_OldForward, {}), (bp.MLP, {}), (bp.MLP, {"dropout": 0.0})):
        net = cls([2, 8, 4, 2], activation="relu", seed=0, dtype=dtype, **kw)
        bp.fit(net, (X, y), epochs=3, batch_size=16, optimizer=bp.SGD(0.5, 0.9),
               progress=False)
        runs.append(net.params)
    for params in runs[1:]:
        for k in params:
            assert_array_equal(params[k], runs[0][k])
    net = bp.MLP([2, 8, 4, 2], seed=0, dtype=dtype)
    state = net.rng.bit_generator.state
    P = net.forward(X, train=True)
    assert_array_equal(P, net.forward(X))
    assert net.masks == [None] * 4 and net.rng.bit_generator.state == state
    assert repr(net) == repr(bp.MLP([2, 8, 4, 2], seed=0, dtype=dtype, dropout=0))
    assert "dropout" not in repr(net) and "dropout=0.5" in repr(bp.MLP([2, 3], dropout=0.5))


def test_float32_masks_stay_float32(rng):
    net = bp.MLP([3, 5, 2], dropout=0.25, dtype="float32", seed=0)
    net.forward(rng.standard_normal((4, 3)), train=True)
    assert net.masks[1].dtype == np.float32 and net.A[1].dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.backward(rng.integers(0, 2, 4)).values())


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), "0.5", None])
def test_bad_dropout(p):
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\)"):
        bp.MLP([2, 3, 2], dropout=p)
