"""Optimizers: they apply gradients to parameters, in place.

The network's ``backward`` only computes gradients; keeping the update here means the
gradients can be checked on their own and the update rule swapped. See chapter 6.

Weight decay (every optimizer's ``weight_decay``) has PyTorch's meaning: the gradient used
is ``g + weight_decay * p``, the gradient of the loss plus ``(weight_decay / 2) ||W||^2``.
Unlike PyTorch, which decays every array it is given, only the weight matrices are decayed
(arrays with ``ndim >= 2``, the ``W_l``), not the biases: a bias shifts a unit's input and
does not multiply it, so shrinking it does not make the function smoother.
"""

import numpy as np

__all__ = ["OPTIMIZERS", "SGD", "Adam"]


def _check_step_args(params, grads):
    if params.keys() != grads.keys():
        raise ValueError(f"grads must have the keys of params: expected {sorted(params)}, "
                         f"got {sorted(grads)}")
    for k, p in params.items():
        if grads[k].shape != p.shape:
            raise ValueError(f"gradient {k!r} has shape {grads[k].shape}, but the parameter "
                             f"has shape {p.shape}")


def _check_lr_and_decay(lr, weight_decay):
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (np.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")


def _decayed(g, p, weight_decay):
    """The gradient of loss + (weight_decay / 2) ||W||^2: g + weight_decay * p, weights only."""
    if weight_decay and p.ndim >= 2:
        return g + weight_decay * p
    return g  # weight_decay = 0 leaves the old update untouched, bit for bit


class SGD:
    """Stochastic gradient descent with optional (heavy-ball) momentum and weight decay.

    Without momentum:  theta <- theta - lr * g
    With momentum mu:  v <- mu * v - lr * g;  theta <- theta + v   (v starts at 0)

    with ``g`` the gradient plus ``weight_decay * theta`` for weight matrices (see the
    module docstring: biases are not decayed).

    Parameters
    ----------
    lr : float
        Learning rate, > 0.
    momentum : float
        Momentum coefficient in [0, 1).
    weight_decay : float
        L2 penalty coefficient >= 0; 0 (the default) is plain SGD.
    """

    def __init__(self, lr=0.1, momentum=0.0, weight_decay=0.0):
        _check_lr_and_decay(lr, weight_decay)
        if not (0 <= momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.velocity = {}

    def __repr__(self):
        decay = f", weight_decay={self.weight_decay}" if self.weight_decay else ""
        return f"SGD(lr={self.lr}, momentum={self.momentum}{decay})"

    def step(self, params, grads):
        """Update every array in ``params`` in place from the matching array in ``grads``."""
        _check_step_args(params, grads)
        for k, p in params.items():
            g = _decayed(grads[k], p, self.weight_decay)
            if self.momentum:
                v = self.velocity.get(k)
                if v is None:
                    v = self.velocity[k] = np.zeros_like(p)
                v *= self.momentum
                v -= self.lr * g
                p += v
            else:
                p -= self.lr * g


class Adam:
    """Adam (Kingma & Ba, 2015), with PyTorch's defaults and bias correction.

    For each parameter theta with gradient g, at step t = 1, 2, ...:

        m <- beta1 * m + (1 - beta1) * g          (running mean of g; m starts at 0)
        v <- beta2 * v + (1 - beta2) * g^2        (running mean of g^2; v starts at 0)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps),
                 m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)

    The bias correction undoes the zero start of m and v: at t = 1, m_hat = g and
    v_hat = g^2, so the first step is lr * g / (|g| + eps), about lr * sign(g).

    ``weight_decay`` adds ``weight_decay * theta`` to g before the moments (PyTorch's
    ``Adam``, an L2 penalty on the loss; not ``AdamW``, whose decoupled decay shrinks
    theta directly), for weight matrices only (see the module docstring).

    Parameters
    ----------
    lr : float
        Learning rate (the size of a step, roughly), > 0.
    betas : (float, float)
        Decay rates (beta1, beta2) of the two running means, each in [0, 1).
    eps : float
        Added to sqrt(v_hat) so a parameter with zero gradients does not divide by 0.
    weight_decay : float
        L2 penalty coefficient >= 0.

    Attributes
    ----------
    t : int
        Number of steps taken.
    m, v : dict of ndarray
        First and second moment of each parameter, by the key of ``params``.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        _check_lr_and_decay(lr, weight_decay)
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"betas must both be in [0, 1), got {betas!r}")
        if not (np.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        self.lr = float(lr)
        self.betas = (float(beta1), float(beta2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.t = 0
        self.m, self.v = {}, {}

    def __repr__(self):
        decay = f", weight_decay={self.weight_decay}" if self.weight_decay else ""
        return f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps}{decay})"

    def step(self, params, grads):
        """Update every array in ``params`` in place from the matching array in ``grads``."""
        _check_step_args(params, grads)
        beta1, beta2 = self.betas
        self.t += 1
        correction1, correction2 = 1 - beta1 ** self.t, 1 - beta2 ** self.t
        for k, p in params.items():
            g = _decayed(grads[k], p, self.weight_decay)
            if k not in self.m:
                self.m[k], self.v[k] = np.zeros_like(p), np.zeros_like(p)
            m, v = self.m[k], self.v[k]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * (g * g)
            p -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


# By name, for the command line and configuration files.
OPTIMIZERS = {"sgd": SGD, "adam": Adam}
