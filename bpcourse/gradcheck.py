"""Gradient checking: backprop's gradients against central differences. See chapter 6."""

import numpy as np

from . import _validation

__all__ = ["gradcheck", "numerical_gradient", "relative_error"]


def relative_error(a, b):
    """||a - b|| / (||a|| + ||b||), 0 when both are zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def numerical_gradient(f, x, eps=1e-5):
    """Central differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for every entry of x.

    ``x`` is modified in place during the computation and restored exactly.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def gradcheck(net, X, Y, eps=1e-5, details=False):
    """Largest relative error between ``net.backward`` and central differences.

    The check runs on a float64 copy of ``net``, so a float32 network can be checked and
    ``net`` itself is left untouched. For each parameter array the relative error is
    ``||analytic - numeric|| / (||analytic|| + ||numeric||)``; the result is the largest.
    Around 1e-9 means correct; above 1e-5 means a bug.

    Parameters
    ----------
    net : MLP
    X : ndarray (n, n_0)
    Y : ndarray (n, n_L) one-hot, or (n,) integer labels
    eps : float
        Step of the central differences.
    details : bool
        Also return a dict of the relative error per parameter.
    """
    check = net.copy(dtype="float64")
    X = _validation.check_X(X, net.sizes[0], check.dtype)
    Y = _validation.check_Y(Y, len(X), net.sizes[-1], check.dtype)
    check.forward(X)
    analytic = check.backward(Y)
    errors = {}
    for key, p in check.params.items():
        numeric = numerical_gradient(lambda: check.loss(check.forward(X), Y), p, eps)
        errors[key] = relative_error(analytic[key], numeric)
    worst = max(errors.values())
    return (worst, errors) if details else worst
