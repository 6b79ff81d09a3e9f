import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from bpcourse import activations as act


@pytest.mark.parametrize("name", ["sigmoid", "relu", "tanh", "identity"])
def test_derivative_matches_central_differences(name, rng):
    # Avoid ReLU's kink at 0: central differences straddling it are meaningless.
    Z = rng.standard_normal((5, 7))
    Z[np.abs(Z) < 1e-3] = 0.5
    f, fprime = act.ACTIVATIONS[name], act.DERIVATIVES[name]
    eps = 1e-5  # elementwise functions: one central difference per entry
    numeric = (f(Z + eps) - f(Z - eps)) / (2 * eps)
    assert_allclose(fprime(Z), numeric, rtol=1e-7, atol=1e-9)


def test_sigmoid_values():
    assert act.sigmoid(0.0) == 0.5
    assert_allclose(act.sigmoid(np.array([np.log(3.0)])), [0.75])
    assert act.sigmoid_prime(0.0) == 0.25  # 0.5 * (1 - 0.5)


def test_sigmoid_saturates_without_warnings():
    Z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S, dS = act.sigmoid(Z), act.sigmoid_prime(Z)
    assert S[0] == 0.0 and S[-1] == 1.0
    assert_allclose(S[1], np.exp(-40.0), rtol=1e-12)  # small values keep full precision
    assert np.all(np.isfinite(dS)) and dS[0] == 0.0 and dS[-1] == 0.0


def test_sigmoid_keeps_float32():
    Z = np.ones(3, dtype=np.float32)
    assert act.sigmoid(Z).dtype == np.float32
    assert act.sigmoid_prime(Z).dtype == np.float32
    assert act.relu_prime(Z).dtype == np.float32


def test_relu_edges():
    Z = np.array([-2.0, 0.0, 3.0])
    assert_allclose(act.relu(Z), [0, 0, 3])
    assert_allclose(act.relu_prime(Z), [0, 0, 1])  # 0 at the kink, by convention
    assert_allclose(act.relu_prime(np.zeros((2, 2))), 0)


def test_softmax_rows_sum_to_one_and_are_shift_invariant(rng):
    Z = rng.standard_normal((4, 6))
    P = act.softmax(Z)
    assert_allclose(P.sum(axis=1), 1)
    assert_allclose(act.softmax(Z + 100), P)
    big = act.softmax(np.array([[1000.0, 0.0, -1000.0]]))
    assert_allclose(big, [[1, 0, 0]])


def test_softmax_backward_matches_jacobian(rng):
    Z = rng.standard_normal((3, 5))
    dA = rng.standard_normal((3, 5))
    P = act.softmax(Z)
    expected = np.stack([
        (np.diag(p) - np.outer(p, p)) @ d for p, d in zip(P, dA, strict=True)
    ])
    assert_allclose(act.softmax_backward(dA, P), expected, rtol=1e-12)
