import numpy as np
import pytest
from numpy.testing import assert_allclose

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
