"""Optimizers: they apply gradients to parameters, in place.

The network's ``backward`` only computes gradients; keeping the update here means the
gradients can be checked on their own and the update rule swapped. See chapter 5.
"""

import numpy as np

__all__ = ["SGD"]


class SGD:
    """Stochastic gradient descent with optional (heavy-ball) momentum.

    Without momentum:  theta <- theta - lr * g
    With momentum mu:  v <- mu * v - lr * g;  theta <- theta + v   (v starts at 0)

    Parameters
    ----------
    lr : float
        Learning rate, > 0.
    momentum : float
        Momentum coefficient in [0, 1).
    """

    def __init__(self, lr=0.1, momentum=0.0):
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if not (0 <= momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.velocity = {}

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum})"

    def step(self, params, grads):
        """Update every array in ``params`` in place from the matching array in ``grads``."""
        if params.keys() != grads.keys():
            raise ValueError(f"grads must have the keys of params: expected {sorted(params)}, "
                             f"got {sorted(grads)}")
        for k, p in params.items():
            g = grads[k]
            if g.shape != p.shape:
                raise ValueError(f"gradient {k!r} has shape {g.shape}, but the parameter has "
                                 f"shape {p.shape}")
            if self.momentum:
                v = self.velocity.get(k)
                if v is None:
                    v = self.velocity[k] = np.zeros_like(p)
                v *= self.momentum
                v -= self.lr * g
                p += v
            else:
                p -= self.lr * g
