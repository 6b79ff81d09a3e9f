"""Loss functions, their gradients, and the fused output/loss pairs.

Shape convention: predictions ``P`` and targets ``Y`` are ``(n, k)``; each loss is
summed over the k outputs of an example and averaged over the n examples, so every
gradient below carries a factor 1/n. See chapter 3.

Per example:

* ``mse``           = 1/2 sum_k (p_k - y_k)^2
* ``bce``           = -sum_k [y_k ln p_k + (1 - y_k) ln(1 - p_k)]
* ``cross_entropy`` = -sum_k y_k ln p_k
"""

import numpy as np

__all__ = [
    "FUSED",
    "LOSSES",
    "LOSS_GRADS",
    "bce",
    "bce_grad",
    "bce_with_logits",
    "cross_entropy",
    "cross_entropy_grad",
    "cross_entropy_with_logits",
    "mse",
    "mse_grad",
]


def _clip(P):
    # Keep log() and 1/P finite when a probability rounds to exactly 0 or 1.
    eps = np.finfo(P.dtype).eps if np.issubdtype(P.dtype, np.floating) else 1e-12
    return np.clip(P, eps, 1 - eps)


def mse(P, Y):
    """Mean over the batch of 1/2 sum_k (p_k - y_k)^2."""
    D = P - Y
    return float(0.5 * np.sum(D * D) / len(P))


def mse_grad(P, Y):
    """dL/dP of the mean MSE: (P - Y) / n."""
    return (P - Y) / len(P)


def bce(P, Y):
    """Mean over the batch of the binary cross-entropy summed over outputs."""
    P = _clip(P)
    return float(-np.sum(Y * np.log(P) + (1 - Y) * np.log1p(-P)) / len(P))


def bce_grad(P, Y):
    """dL/dP of the mean BCE: (P - Y) / (P (1 - P)) / n."""
    P = _clip(P)
    return (P - Y) / (P * (1 - P)) / len(P)


def cross_entropy(P, Y):
    """Mean over the batch of -sum_k y_k ln p_k."""
    return float(-np.sum(Y * np.log(_clip(P))) / len(P))


def cross_entropy_grad(P, Y):
    """dL/dP of the mean cross-entropy: -Y / P / n."""
    return -Y / _clip(P) / len(P)


def bce_with_logits(Z, Y):
    """BCE of sigmoid(Z) computed from the logits Z, exact even for |z| = 1000.

    -[y ln s(z) + (1 - y) ln(1 - s(z))] = max(z, 0) - y z + ln(1 + e^-|z|).
    """
    return float(
        np.sum(np.maximum(Z, 0) - Y * Z + np.log1p(np.exp(-np.abs(Z)))) / len(Z)
    )


def cross_entropy_with_logits(Z, Y):
    """Cross-entropy of softmax(Z) computed from the logits Z (log-sum-exp trick).

    -sum_k y_k ln softmax(z)_k = sum_k y_k (lse(z) - z_k), lse(z) = m + ln sum_j e^(z_j - m).
    """
    m = Z.max(axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(Z - m), axis=1, keepdims=True))
    return float(np.sum(Y * (lse - Z)) / len(Z))


LOSSES = {"mse": mse, "bce": bce, "cross_entropy": cross_entropy}
LOSS_GRADS = {"mse": mse_grad, "bce": bce_grad, "cross_entropy": cross_entropy_grad}

# Output/loss pairs whose chain rule collapses to dZ = (P - Y) / n, and the loss
# computed stably from the logits.
FUSED = {
    ("sigmoid", "bce"): bce_with_logits,
    ("softmax", "cross_entropy"): cross_entropy_with_logits,
}
