import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import bpcourse as bp

PAIRS = [("sigmoid", "bce"), ("softmax", "cross_entropy"), ("sigmoid", "mse"),
         ("softmax", "mse"), ("identity", "mse"), ("softmax", "bce")]
ARCHS = [[3, 5, 4], [4, 7, 3, 4], [2, 3, 6, 5, 4]]  # 1, 2 and 3 hidden layers, odd sizes


def _targets(rng, output, n, k):
    if output == "softmax":
        return bp.one_hot(rng.integers(0, k, n), k)
    if output == "sigmoid":
        return rng.integers(0, 2, (n, k)).astype(float)
    return rng.standard_normal((n, k))


@pytest.mark.parametrize("sizes", ARCHS, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("output,loss", PAIRS)
def test_gradcheck(sizes, activation, output, loss):
    rng = np.random.default_rng(sum(sizes))
    net = bp.MLP(sizes, activation=activation, output=output, loss=loss, seed=1)
    X = rng.standard_normal((6, sizes[0]))
    Y = _targets(rng, output, 6, sizes[-1])
    worst, per_param = bp.gradcheck(net, X, Y, details=True)
    assert set(per_param) == set(net.params)
    assert worst <= 1e-7, per_param


def test_gradcheck_detects_a_wrong_gradient(monkeypatch, rng):
    # The check must be able to fail: break dW by a factor of 2 and it must notice.
    net = bp.MLP([3, 4, 2], activation="tanh", seed=0)
    X, Y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    original = bp.MLP.backward

    def doubled(self, Y, **kw):
        g = original(self, Y, **kw)
        g["W1"] = 2 * g["W1"]
        return g

    monkeypatch.setattr(bp.MLP, "backward", doubled)
    assert bp.gradcheck(net, X, Y) > 0.1


def test_shapes_and_cache(rng):
    net = bp.MLP([4, 6, 5, 3], activation="relu", seed=0)
    assert net.params["W1"].shape == (4, 6) and net.params["b1"].shape == (6,)
    assert net.params["W3"].shape == (5, 3) and net.params["b3"].shape == (3,)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert net.n_params == 4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3
    X = rng.standard_normal((7, 4))
    P = net.forward(X)
    assert P.shape == (7, 3)
    assert_allclose(P.sum(axis=1), 1)
    assert net.A[0] is not None and len(net.Z) == len(net.A) == 4
    assert_allclose(net.Z[1], X @ net.params["W1"] + net.params["b1"])
    assert_allclose(net.A[1], np.maximum(net.Z[1], 0))
    grads = net.backward(rng.integers(0, 3, 7))
    assert list(grads) == list(net.params)
    for k in grads:
        assert grads[k].shape == net.params[k].shape


def test_integer_labels_equal_one_hot(rng):
    net = bp.MLP([3, 4, 3], seed=0)
    X, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    P = net.forward(X)
    assert net.loss(P, y) == net.loss(P, bp.one_hot(y, 3))
    g1 = net.backward(y)
    g2 = net.backward(bp.one_hot(y, 3))
    for k in g1:
        assert_array_equal(g1[k], g2[k])


def test_single_output_accepts_labels_vector(rng):
    net = bp.MLP([2, 3, 1], activation="tanh", output="sigmoid", loss="bce", seed=0)
    X, y = rng.standard_normal((4, 2)), np.array([0, 1, 1, 0])
    P = net.forward(X)
    assert_allclose(net.loss(P, y), net.loss(P, y.reshape(-1, 1).astype(float)))
    with pytest.raises(ValueError, match="out of range"):
        net.loss(P, np.array([0, 1, 2, 0]))


def test_backward_is_gradient_of_the_mean_not_the_sum(rng):
    # Duplicating a batch leaves the mean loss and hence its gradient unchanged.
    net = bp.MLP([3, 4, 2], activation="sigmoid", output="sigmoid", loss="bce", seed=0)
    X, Y = rng.standard_normal((5, 3)), rng.integers(0, 2, (5, 2))
    net.forward(X)
    g = net.backward(Y)
    net.forward(np.vstack([X, X]))
    g2 = net.backward(np.vstack([Y, Y]))
    for k in g:
        assert_allclose(g2[k], g[k], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_example_takes_the_outer_product_path(rng, dtype):
    # backward forms dW of a single example by broadcasting, not by a matrix product: the
    # gradient checks out and equals that of the example twice (a batch of two, the product).
    net = bp.MLP([4, 6, 3], activation="tanh", seed=2, dtype=dtype)
    X, y = rng.standard_normal((1, 4)), np.array([1])
    assert bp.gradcheck(net.copy(dtype=np.float64), X, y) <= 1e-7
    net.forward(X)
    g = net.backward(y)
    net.forward(np.vstack([X, X]))
    g2 = net.backward(np.concatenate([y, y]))
    for k in g:
        assert g[k].dtype == dtype and g[k].shape == net.params[k].shape
        assert_allclose(g[k], g2[k], rtol=1e-6)


@pytest.mark.parametrize("output,loss", [("sigmoid", "bce"), ("softmax", "cross_entropy")])
def test_fused_pairs_finite_at_saturated_logits(output, loss):
    net = bp.MLP([2, 2], activation="relu", output=output, loss=loss, seed=0)
    # A single layer with huge weights: logits of +-1000.
    net.params["W1"][:] = [[1000.0, -1000.0], [0.0, 0.0]]
    net.params["b1"][:] = 0
    X = np.array([[1.0, 0.0]])
    Y = np.array([[0.0, 1.0]])  # confidently wrong
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = net.forward(X)
        L = net.loss(P, Y)
        grads = net.backward(Y)
    assert np.isfinite(L) and L >= 1000
    for g in grads.values():
        assert np.all(np.isfinite(g))
    assert_allclose(grads["b1"], [1.0, -1.0])  # (P - Y) / n with P = [1, 0]


def test_float32_network_stays_float32(rng):
    net = bp.MLP([5, 4, 3], dtype="float32", seed=0)
    X = rng.standard_normal((6, 5))  # float64 input is cast to the network's dtype
    P = net.forward(X)
    assert P.dtype == np.float32
    assert all(z.dtype == np.float32 for z in net.Z[1:])
    grads = net.backward(rng.integers(0, 3, 6))
    assert all(g.dtype == np.float32 for g in grads.values())
    bp.SGD(lr=0.1, momentum=0.9).step(net.params, grads)
    assert all(p.dtype == np.float32 for p in net.params.values())


def test_float32_matches_float64(rng):
    net = bp.MLP([5, 8, 3], activation="tanh", seed=0)
    X, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    g64 = (net.forward(X), net.backward(y))[1]
    net32 = net.copy(dtype="float32")
    g32 = (net32.forward(X), net32.backward(y))[1]
    for k in g64:
        assert_allclose(g32[k], g64[k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("init", ["he", "xavier", "normal", "uniform"])
def test_initialisation_schemes(init):
    net = bp.MLP([400, 300, 10], activation="relu", init=init, seed=0)
    W, b = net.params["W1"], net.params["b1"]
    if init == "he":
        assert_allclose(W.std(), np.sqrt(2 / 400), rtol=0.02)
        assert not b.any()
    elif init == "xavier":
        limit = np.sqrt(6 / 700)
        assert W.max() <= limit and W.min() >= -limit
        assert_allclose(W.std(), limit / np.sqrt(3), rtol=0.02)
    elif init == "normal":
        assert_allclose(W.std(), 1, rtol=0.02)
        assert_allclose(b.std(), 1, rtol=0.3)
    else:
        assert W.min() >= 0 and W.max() <= 1e-4 and b.min() >= 0 and b.max() <= 1e-4


def test_default_init_follows_activation():
    assert bp.MLP([2, 2], activation="relu").init == "he"
    assert bp.MLP([2, 2], activation="sigmoid").init == "xavier"
    assert bp.MLP([2, 2], activation="tanh").init == "xavier"


def test_seed_reproducible_and_copy_independent():
    a, b = bp.MLP([3, 4, 2], seed=5), bp.MLP([3, 4, 2], seed=5)
    for k in a.params:
        assert_array_equal(a.params[k], b.params[k])
    c = a.copy()
    c.params["W1"] += 1
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_predict_and_accuracy(rng):
    net = bp.MLP([2, 3], activation="relu", output="softmax", seed=0)
    net.params["W1"][:] = [[1, 0, 0], [0, 1, 0]]
    net.params["b1"][:] = 0
    X = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    assert_array_equal(net.predict(X), [0, 1, 2])
    assert net.accuracy(X, [0, 1, 1]) == pytest.approx(2 / 3)


def test_copy_keeps_subclass_so_gradcheck_checks_the_override(rng):
    class Broken(bp.MLP):
        def backward(self, Y, **kw):
            g = super().backward(Y, **kw)
            g["b1"] = -g["b1"]  # a sign error
            return g

    net = Broken([3, 4, 2], activation="tanh", seed=0)
    assert type(net.copy()) is Broken
    assert bp.gradcheck(net, rng.standard_normal((5, 3)), rng.integers(0, 2, 5)) > 0.5


def test_unchecked_path_matches_the_checked_one(rng):
    net = bp.MLP([3, 4, 2], activation="tanh", seed=0)
    X, y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    Y = bp.one_hot(y, 2)
    P = net.forward(X)
    L, g = net.loss(P, y), net.backward(y)
    P2 = net.forward(X, check=False)
    assert_array_equal(P2, P)
    assert net.loss(P2, Y, check=False) == L
    for k, v in net.backward(Y, check=False).items():
        assert_array_equal(v, g[k])
