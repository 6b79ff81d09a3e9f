"""Toy data sets for the first chapters, and one-hot encoding.

Each returns ``X`` of shape (n, 2) with float64 points and ``y`` of shape (n,) with int64
labels 0/1, reproducible from ``seed``.
"""

import numpy as np

__all__ = ["linear", "one_hot", "xor"]


def linear(n=200, seed=0):
    """Points uniform in the unit square, labelled 1 above the diagonal x2 = x1, else 0."""
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    X = np.random.default_rng(seed).uniform(0, 1, (n, 2))
    return X, (X[:, 1] > X[:, 0]).astype(np.int64)


def xor(n=200, seed=0, noise=0.1):
    """The XOR pattern: clusters around the corners of the unit square.

    A point near corner (a, b) is labelled a XOR b, so (0, 0) and (1, 1) are class 0 and
    (0, 1) and (1, 0) class 1; no straight line separates them. Gaussian noise of
    standard deviation ``noise`` spreads each cluster. ``xor(4, noise=0)`` gives the four
    corners themselves.
    """
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    rng = np.random.default_rng(seed)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    which = np.arange(n) % 4
    rng.shuffle(which) if n > 4 else None
    X = corners[which] + noise * rng.standard_normal((n, 2))
    y = (corners[which, 0] != corners[which, 1]).astype(np.int64)
    return X, y


def one_hot(y, n_classes=None, dtype="float64"):
    """Integer labels (n,) -> one-hot rows (n, n_classes)."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be 1-D integer labels, got shape {y.shape} dtype {y.dtype}")
    if n_classes is None:
        n_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels out of range: expected 0..{n_classes - 1}, "
                         f"got min {y.min()} and max {y.max()}")
    Y = np.zeros((len(y), n_classes), dtype=dtype)
    Y[np.arange(len(y)), y] = 1
    return Y
