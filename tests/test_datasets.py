import numpy as np
import pytest
from numpy.testing import assert_array_equal

import bpcourse as bp


def test_linear():
    X, y = bp.datasets.linear(500, seed=0)
    assert X.shape == (500, 2) and y.shape == (500,) and y.dtype == np.int64
    assert X.min() >= 0 and X.max() <= 1
    assert_array_equal(y, X[:, 1] > X[:, 0])
    assert 0.4 < y.mean() < 0.6
    assert_array_equal(bp.datasets.linear(10, seed=3)[0], bp.datasets.linear(10, seed=3)[0])


def test_xor_corners_and_labels():
    X, y = bp.datasets.xor(4, noise=0)
    assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert_array_equal(y, [0, 1, 1, 0])
    X, y = bp.datasets.xor(400, seed=1)
    corner = np.round(X)
    assert_array_equal(y, corner[:, 0] != corner[:, 1])
    assert np.bincount(y).tolist() == [200, 200]


def test_one_hot():
    assert_array_equal(bp.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    assert bp.one_hot(np.array([1, 0])).shape == (2, 2)
    with pytest.raises(ValueError, match="out of range"):
        bp.one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="integer labels"):
        bp.one_hot(np.array([0.5]))
