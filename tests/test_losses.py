import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from bpcourse import losses
from bpcourse.activations import sigmoid, softmax
from bpcourse.gradcheck import numerical_gradient


def test_values_by_hand():
    P = np.array([[0.8, 0.2], [0.4, 0.6]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    # mse: (1/2 (0.04 + 0.04) + 1/2 (0.16 + 0.16)) / 2 = (0.04 + 0.16) / 2 = 0.1
    assert_allclose(losses.mse(P, Y), 0.1)
    # cross-entropy: -(ln 0.8 + ln 0.6) / 2
    assert_allclose(losses.cross_entropy(P, Y), -(np.log(0.8) + np.log(0.6)) / 2)
    # bce: -(ln 0.8 + ln 0.8 + ln 0.6 + ln 0.6) / 2
    assert_allclose(losses.bce(P, Y), -(2 * np.log(0.8) + 2 * np.log(0.6)) / 2)


@pytest.mark.parametrize("name", ["mse", "bce", "cross_entropy"])
def test_gradient_matches_central_differences(name, rng):
    P = rng.uniform(0.05, 0.95, (4, 3))
    Y = rng.uniform(0, 1, (4, 3))
    numeric = numerical_gradient(lambda: losses.LOSSES[name](P, Y), P)
    assert_allclose(losses.LOSS_GRADS[name](P, Y), numeric, rtol=1e-6, atol=1e-10)


def test_fused_losses_equal_plain_losses_for_moderate_logits(rng):
    Z = rng.standard_normal((5, 4)) * 3
    Y = np.eye(4)[rng.integers(0, 4, 5)]
    assert_allclose(losses.bce_with_logits(Z, Y), losses.bce(sigmoid(Z), Y), rtol=1e-10)
    assert_allclose(losses.cross_entropy_with_logits(Z, Y),
                    losses.cross_entropy(softmax(Z), Y), rtol=1e-10)


def test_fused_losses_exact_at_saturated_logits():
    Z = np.array([[1000.0, -1000.0]])
    Y = np.array([[0.0, 1.0]])  # both confidently wrong by 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_allclose(losses.bce_with_logits(Z, Y), 2000.0)
        assert_allclose(losses.cross_entropy_with_logits(Z, Y), 2000.0)
        assert losses.bce_with_logits(Z, 1 - Y) == 0.0


def test_plain_losses_stay_finite_at_probabilities_0_and_1():
    P = np.array([[1.0, 0.0]])
    Y = np.array([[0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("bce", "cross_entropy"):
            assert np.isfinite(losses.LOSSES[name](P, Y))
            assert np.all(np.isfinite(losses.LOSS_GRADS[name](P, Y)))
