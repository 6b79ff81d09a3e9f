import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import bpcourse as bp


def test_one_sgd_step_by_hand():
    # Network 2-1 with a sigmoid output and MSE, one example x = (1, 2), y = 1.
    net = bp.MLP([2, 1], activation="sigmoid", output="sigmoid", loss="mse", seed=0)
    net.params["W1"][:] = [[0.5], [-0.25]]
    net.params["b1"][:] = [0.0]
    X, Y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    P = net.forward(X)
    # z = 1 * 0.5 + 2 * (-0.25) + 0 = 0, so p = sigmoid(0) = 0.5
    assert P[0, 0] == 0.5
    # L = 1/2 (0.5 - 1)^2 = 0.125
    assert net.loss(P, Y) == 0.125
    grads = net.backward(Y)
    # dL/dp = p - y = -0.5; dp/dz = p (1 - p) = 0.25; so dz = -0.125
    # dW = x^T dz = [[-0.125], [-0.25]]; db = -0.125
    assert_allclose(grads["W1"], [[-0.125], [-0.25]])
    assert_allclose(grads["b1"], [-0.125])
    bp.SGD(lr=2.0).step(net.params, grads)
    # W <- W - 2 dW = [[0.5 + 0.25], [-0.25 + 0.5]] = [[0.75], [0.25]]; b <- 0 + 0.25
    assert_allclose(net.params["W1"], [[0.75], [0.25]])
    assert_allclose(net.params["b1"], [0.25])
    # and the loss went down: z = 0.75 + 0.5 + 0.25 = 1.5
    assert net.loss(net.forward(X), Y) < 0.125


def test_momentum_update_equals_its_formula(rng):
    p0 = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(4)]
    params = {"W1": p0.copy()}
    opt = bp.SGD(lr=0.1, momentum=0.9)
    theta, v = p0.copy(), np.zeros_like(p0)
    for g in grads:
        opt.step(params, {"W1": g})
        v = 0.9 * v - 0.1 * g
        theta = theta + v
        assert_allclose(params["W1"], theta, rtol=1e-14)


def test_step_is_in_place():
    W = np.ones((2, 2))
    params = {"W1": W}
    bp.SGD(lr=0.5).step(params, {"W1": np.ones((2, 2))})
    assert params["W1"] is W
    assert_allclose(W, 0.5)


def test_step_checks_keys_and_shapes():
    params = {"W1": np.zeros((2, 3)), "b1": np.zeros(3)}
    with pytest.raises(ValueError, match="keys"):
        bp.SGD().step(params, {"W1": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"'W1' has shape \(3, 2\)"):
        bp.SGD().step(params, {"W1": np.zeros((3, 2)), "b1": np.zeros(3)})


@pytest.mark.parametrize("kwargs", [{"lr": 0}, {"lr": -1}, {"lr": float("nan")},
                                    {"momentum": 1.0}, {"momentum": -0.1}])
def test_bad_hyperparameters(kwargs):
    with pytest.raises(ValueError, match="lr|momentum"):
        bp.SGD(**kwargs)


# -- weight decay ----------------------------------------------------------------------
class _SGDBefore:
    """SGD.step as it was before weight decay (and Adam) existed, copied verbatim."""

    def __init__(self, lr=0.1, momentum=0.0):
        self.lr, self.momentum, self.velocity = lr, momentum, {}

    def step(self, params, grads):
        for k, p in params.items():
            g = grads[k]
            if self.momentum:
                v = self.velocity.get(k)
                if v is None:
                    v = self.velocity[k] = np.zeros_like(p)
                v *= self.momentum
                v -= self.lr * g
                p += v
            else:
                p -= self.lr * g


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_no_weight_decay_is_the_old_sgd_bit_for_bit(momentum, dtype):
    X, y = bp.datasets.xor(128, seed=0)
    runs = []
    for opt in (_SGDBefore(0.5, momentum), bp.SGD(0.5, momentum),
                bp.SGD(0.5, momentum, weight_decay=0.0)):
        net = bp.MLP([2, 8, 2], activation="tanh", seed=0, dtype=dtype)
        bp.fit(net, (X, y), epochs=3, batch_size=16, optimizer=opt, progress=False)
        runs.append(net.params)
    for params in runs[1:]:
        for k in params:
            assert_array_equal(params[k], runs[0][k])


class _L2MLP(bp.MLP):
    """The loss plus (weight_decay / 2) sum_l ||W_l||^2, and its gradient."""

    weight_decay = 0.3

    def loss(self, P, Y, **kw):
        penalty = sum(np.sum(W * W) for k, W in self.params.items() if k.startswith("W"))
        return super().loss(P, Y, **kw) + 0.5 * self.weight_decay * penalty

    def backward(self, Y, **kw):
        grads = super().backward(Y, **kw)
        return {k: g + self.weight_decay * self.params[k] if k.startswith("W") else g
                for k, g in grads.items()}


def test_sgd_weight_decay_is_gradient_descent_on_the_l2_penalised_loss(rng):
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    l2 = _L2MLP([3, 5, 3], activation="tanh", seed=0)
    # The gradient of the penalised loss is right: backprop + 0.3 W against central
    # differences of loss + 0.15 ||W||^2 (gradcheck copies the subclass).
    assert bp.gradcheck(l2, X, y) < 1e-8
    plain = bp.MLP([3, 5, 3], activation="tanh", seed=0)
    for _ in range(3):  # and SGD(weight_decay=0.3) on the plain loss descends it, step by step
        l2.forward(X)
        bp.SGD(lr=0.1).step(l2.params, l2.backward(y))
        plain.forward(X)
        bp.SGD(lr=0.1, weight_decay=0.3).step(plain.params, plain.backward(y))
        for k in plain.params:
            assert_allclose(plain.params[k], l2.params[k], rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("opt", [bp.SGD(lr=0.1, weight_decay=0.5),
                                 bp.SGD(lr=0.1, momentum=0.9, weight_decay=0.5),
                                 bp.Adam(lr=0.1, weight_decay=0.5)], ids=repr)
def test_weight_decay_shrinks_weights_not_biases(opt):
    # Zero gradients: only the decay moves anything. W is 2-D, b is 1-D.
    params = {"W1": np.ones((2, 3)), "b1": np.ones(3)}
    opt.step(params, {"W1": np.zeros((2, 3)), "b1": np.zeros(3)})
    assert np.all(params["W1"] < 1)
    assert_array_equal(params["b1"], 1.0)
    if isinstance(opt, bp.SGD):
        assert_allclose(params["W1"], 1 - 0.1 * 0.5)  # W <- W - lr * (0 + 0.5 W)


def test_adam_weight_decay_is_l2_in_the_gradient_not_adamw(rng):
    # PyTorch's Adam: the decay enters g, and so the moments; AdamW would shrink W by
    # lr * wd * W on its own, outside the moments.
    W0, G = rng.standard_normal((3, 2)), [rng.standard_normal((3, 2)) for _ in range(3)]
    decayed, by_hand = {"W1": W0.copy()}, {"W1": W0.copy()}
    a, b = bp.Adam(lr=0.01, weight_decay=0.2), bp.Adam(lr=0.01)
    for g in G:
        b.step(by_hand, {"W1": g + 0.2 * by_hand["W1"]})
        a.step(decayed, {"W1": g})
        assert_array_equal(decayed["W1"], by_hand["W1"])
    assert_array_equal(a.m["W1"], b.m["W1"])


# -- Adam ------------------------------------------------------------------------------
def test_first_adam_steps_by_hand():
    # t = 1: m = 0.1 g, v = 0.001 g^2; the bias correction divides them by 1 - 0.9 = 0.1 and
    # 1 - 0.999 = 0.001, so m_hat = g, v_hat = g^2 and the step is lr * g / (|g| + eps).
    params = {"W1": np.array([[1.0, 1.0, 1.0]])}
    g = {"W1": np.array([[0.5, -2.0, 0.0]])}
    opt = bp.Adam(lr=0.1)
    opt.step(params, g)
    assert_allclose(opt.m["W1"], [[0.05, -0.2, 0.0]], rtol=1e-15)
    assert_allclose(opt.v["W1"], [[0.00025, 0.004, 0.0]], rtol=1e-12)
    # 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.9 + 2e-9; a zero gradient moves nothing: 0 / (0 + eps)
    assert_allclose(params["W1"], [[0.9 + 2e-9, 1.1 - 5e-10, 1.0]], rtol=1e-15)
    # t = 2, same g: m = 0.9 * 0.05 + 0.1 * 0.5 = 0.095 and m_hat = 0.095 / 0.19 = 0.5 = g;
    # likewise v_hat = g^2. With a constant gradient every step is lr * g / (|g| + eps).
    opt.step(params, g)
    assert_allclose(params["W1"], [[0.8 + 4e-9, 1.2 - 1e-9, 1.0]], rtol=1e-14)
    assert opt.t == 2


def test_adam_equals_its_formula_over_several_steps(rng):
    # The reference is written as PyTorch's implementation computes it (the step size
    # lr / (1 - beta1^t), the denominator sqrt(v) / sqrt(1 - beta2^t) + eps): the same
    # formula in another order of operations.
    lr, (b1, b2), eps = 0.01, (0.8, 0.99), 1e-6
    p0 = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(2)}
    params = {k: v.copy() for k, v in p0.items()}
    opt = bp.Adam(lr=lr, betas=(b1, b2), eps=eps)
    ref = {k: v.copy() for k, v in p0.items()}
    m = {k: np.zeros_like(v) for k, v in p0.items()}
    v = {k: np.zeros_like(x) for k, x in p0.items()}
    for t in range(1, 7):
        grads = {k: rng.standard_normal(x.shape) for k, x in p0.items()}
        opt.step(params, grads)
        for k, g in grads.items():
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            denom = np.sqrt(v[k]) / np.sqrt(1 - b2 ** t) + eps
            ref[k] = ref[k] - lr / (1 - b1 ** t) * m[k] / denom
            assert_allclose(params[k], ref[k], rtol=1e-13)
            assert_allclose(opt.m[k], m[k], rtol=1e-13)
            assert_allclose(opt.v[k], v[k], rtol=1e-13)


def test_adam_defaults_are_pytorchs():
    opt = bp.Adam()
    assert (opt.lr, opt.betas, opt.eps, opt.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 0.0)


def test_adam_keeps_state_per_parameter():
    params = {"W1": np.zeros((2, 3)), "b1": np.zeros(3), "W2": np.zeros((3, 1))}
    grads = {"W1": np.full((2, 3), 2.0), "b1": np.zeros(3), "W2": np.full((3, 1), -1.0)}
    opt = bp.Adam()
    opt.step(params, grads)
    assert list(opt.m) == list(opt.v) == list(params)
    for k in params:
        assert opt.m[k].shape == opt.v[k].shape == params[k].shape
        assert_allclose(opt.m[k], 0.1 * grads[k])  # each from its own gradient only
        assert_allclose(opt.v[k], 0.001 * grads[k] ** 2)
    assert_array_equal(params["b1"], 0)  # zero gradient: no step, unlike its neighbours
    assert np.all(params["W1"] < 0) and np.all(params["W2"] > 0)


@pytest.mark.parametrize("opt", [bp.Adam(lr=0.01), bp.Adam(lr=0.01, weight_decay=0.1),
                                 bp.SGD(lr=0.1, momentum=0.9, weight_decay=0.1)], ids=repr)
def test_steps_update_the_networks_arrays_in_place(opt, rng):
    net = bp.MLP([3, 4, 2], dtype="float32", seed=0)
    arrays = dict(net.params)
    before = {k: v.copy() for k, v in arrays.items()}
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    for _ in range(2):
        net.forward(X)
        opt.step(net.params, net.backward(y))
    assert list(net.params) == list(arrays)
    for k, p in net.params.items():
        assert p is arrays[k]  # the same arrays, changed, nothing new put in the dict
        assert p.dtype == np.float32
        assert not np.array_equal(p, before[k])
    state = getattr(opt, "m", None) or opt.velocity
    assert all(s.dtype == np.float32 for s in state.values())


def test_adam_converges_on_xor():
    X, y = bp.datasets.xor(200, seed=0)
    net = bp.MLP([2, 8, 1], activation="tanh", output="sigmoid", loss="bce", seed=0)
    hist = bp.fit(net, (X, y), epochs=60, batch_size=20, optimizer=bp.Adam(lr=0.02),
                  progress=False)
    assert net.accuracy(X, y) == 1.0
    assert hist["train_loss"][-1] < hist["train_loss"][0] / 10


def test_adam_checks_keys_and_shapes():
    params = {"W1": np.zeros((2, 3)), "b1": np.zeros(3)}
    with pytest.raises(ValueError, match="keys"):
        bp.Adam().step(params, {"W1": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"'W1' has shape \(3, 2\)"):
        bp.Adam().step(params, {"W1": np.zeros((3, 2)), "b1": np.zeros(3)})


@pytest.mark.parametrize("make,match", [
    (lambda: bp.SGD(weight_decay=-0.1), "weight_decay"),
    (lambda: bp.SGD(weight_decay=float("nan")), "weight_decay"),
    (lambda: bp.Adam(lr=0), "lr"),
    (lambda: bp.Adam(betas=(0.9, 1.0)), "betas"),
    (lambda: bp.Adam(betas=(-0.1, 0.999)), "betas"),
    (lambda: bp.Adam(eps=0), "eps"),
    (lambda: bp.Adam(weight_decay=-1), "weight_decay"),
])
def test_bad_adam_and_decay_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_optimizers_by_name_and_on_the_command_line():
    from bpcourse.__main__ import build_parser, make_optimizer
    from bpcourse.optim import OPTIMIZERS

    assert OPTIMIZERS == {"sgd": bp.SGD, "adam": bp.Adam}
    parser = build_parser()
    default = parser.parse_args(["train"])
    assert (default.optimizer, default.weight_decay, default.dropout) == ("sgd", 0.0, 0.0)
    assert repr(make_optimizer(default)) == "SGD(lr=0.1, momentum=0.0)"  # as before
    adam = make_optimizer(parser.parse_args(["train", "--optimizer", "adam", "--lr", "0.001",
                                             "--weight-decay", "0.01"]))
    assert isinstance(adam, bp.Adam) and (adam.lr, adam.weight_decay) == (0.001, 0.01)
    with pytest.raises(ValueError, match="--momentum is an option of sgd"):
        make_optimizer(parser.parse_args(["train", "--optimizer", "adam", "--momentum", "0.9"]))
