"""Activation functions and their derivatives, looked up by name.

Every function takes the pre-activation ``Z`` (any shape) and works elementwise,
except softmax, which normalises each row of a batch ``Z`` of shape ``(n, k)``.
The derivatives also take ``Z`` (not the activation ``A``), as in the book:
``A = g(Z)`` and ``dZ = dA * g'(Z)``. See chapter 2.
"""

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "HIDDEN",
    "OUTPUTS",
    "identity",
    "identity_prime",
    "relu",
    "relu_prime",
    "sigmoid",
    "sigmoid_prime",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_prime",
]


def sigmoid(Z):
    """Logistic sigmoid 1 / (1 + e^-z), without overflow for any z.

    Uses e^-|z| so the exponential never exceeds 1: sigmoid(-1000) is 0.0 with no
    warning, and small values keep full relative precision.
    """
    Z = np.asarray(Z)
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def sigmoid_prime(Z):
    """Derivative of the sigmoid: sigma(z) (1 - sigma(z)). See chapter 2."""
    S = sigmoid(Z)
    return S * (1 - S)


def relu(Z):
    """Rectified linear unit max(z, 0)."""
    return np.maximum(Z, 0)


def relu_prime(Z):
    """Derivative of ReLU: 1 where z > 0, else 0 (we take 0 at the kink z = 0)."""
    Z = np.asarray(Z)
    return (Z > 0).astype(Z.dtype)


def tanh(Z):
    """Hyperbolic tangent."""
    return np.tanh(Z)


def tanh_prime(Z):
    """Derivative of tanh: 1 - tanh(z)^2."""
    T = np.tanh(Z)
    return 1 - T * T


def identity(Z):
    """Identity (a linear output layer, for regression with MSE)."""
    return np.asarray(Z)


def identity_prime(Z):
    """Derivative of the identity: ones."""
    return np.ones_like(Z)


def softmax(Z):
    """Row-wise softmax of a batch Z of shape (n, k); each row of the result sums to 1.

    Subtracting the row maximum first changes nothing mathematically and keeps
    exp() from overflowing for large logits.
    """
    Z = np.asarray(Z)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def softmax_backward(dA, A):
    """Chain rule through a row-wise softmax: dZ = A * (dA - sum_k dA_k A_k).

    Parameters
    ----------
    dA : ndarray of shape (n, k)
        Gradient of the loss with respect to the softmax output.
    A : ndarray of shape (n, k)
        The softmax output itself.
    """
    return A * (dA - np.sum(dA * A, axis=1, keepdims=True))


ACTIVATIONS = {
    "sigmoid": sigmoid,
    "relu": relu,
    "tanh": tanh,
    "identity": identity,
    "softmax": softmax,
}

# Elementwise derivatives g'(Z). Softmax has none: its Jacobian couples the row,
# so the chain rule through it is `softmax_backward`.
DERIVATIVES = {
    "sigmoid": sigmoid_prime,
    "relu": relu_prime,
    "tanh": tanh_prime,
    "identity": identity_prime,
}

HIDDEN = ("sigmoid", "relu", "tanh")
OUTPUTS = ("sigmoid", "softmax", "identity")
