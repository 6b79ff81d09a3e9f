"""A multilayer perceptron with matrix-form forward and backward passes.

Shape convention (used everywhere in the book and the package): a batch is a row-major
matrix, one example per row.

    A[0] = X                          (n, n_0)
    Z[l] = A[l-1] @ W_l + b_l         (n, n_l)     W_l: (n_{l-1}, n_l),  b_l: (n_l,)
    A[l] = g_l(Z[l])                  (n, n_l)     g_L is the output activation

Backward, with dX meaning dL/dX for the mean loss L over the batch:

    dZ[L]      = (A[L] - Y) / n       for sigmoid + bce and softmax + cross_entropy
    dW_l       = A[l-1].T @ dZ[l]
    db_l       = dZ[l].sum(axis=0)
    dA[l-1]    = dZ[l] @ W_l.T
    dZ[l-1]    = dA[l-1] * g'(Z[l-1])

Dropout (``MLP(..., dropout=p)``, training passes only): each hidden activation is
multiplied by a mask D[l] whose entries are 0 with probability p and 1/(1-p) otherwise,
A[l] = g_l(Z[l]) * D[l], so dZ[l] = dA[l] * D[l] * g'(Z[l]) with the same mask.

See chapter 6.
"""

import copy

import numpy as np

from . import _validation
from .activations import ACTIVATIONS, DERIVATIVES, HIDDEN, OUTPUTS, softmax_backward
from .losses import FUSED, LOSS_GRADS, LOSSES

__all__ = ["INITS", "MLP"]

# Initialisation schemes: each returns (W, b) for a layer with n_in inputs, n_out outputs.
INITS = {
    # He et al. (2015): keeps the variance of ReLU activations constant across layers.
    "he": lambda rng, n_in, n_out: (
        rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in), np.zeros(n_out)),
    # Glorot & Bengio (2010), uniform: for sigmoid and tanh.
    "xavier": lambda rng, n_in, n_out: (
        rng.uniform(-1, 1, (n_in, n_out)) * np.sqrt(6.0 / (n_in + n_out)), np.zeros(n_out)),
    # Nielsen's first network: weights and biases standard normal.
    "normal": lambda rng, n_in, n_out: (
        rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)),
    # The reports' tiny uniform start: weights and biases in [0, 1e-4].
    "uniform": lambda rng, n_in, n_out: (
        rng.uniform(0, 1e-4, (n_in, n_out)), rng.uniform(0, 1e-4, n_out)),
}
DEFAULT_INIT = {"relu": "he", "sigmoid": "xavier", "tanh": "xavier"}

# Output/loss pairs that make sense. The others are refused with a reason.
_PAIRS = {
    ("sigmoid", "bce"), ("softmax", "cross_entropy"),
    ("sigmoid", "mse"), ("softmax", "mse"), ("identity", "mse"), ("softmax", "bce"),
}
_WHY_NOT = {
    ("identity", "bce"): "bce needs outputs in (0, 1); use output='sigmoid'",
    ("identity", "cross_entropy"): "cross_entropy needs probabilities; use output='softmax'",
    ("sigmoid", "cross_entropy"): (
        "sigmoid outputs do not sum to 1, so -sum y ln p is minimised by pushing every "
        "output to 1; use output='softmax' with cross_entropy, or loss='bce' with sigmoid"),
}


class MLP:
    """A fully connected network trained by backpropagation.

    Parameters
    ----------
    sizes : list of int
        Layer widths from input to output, e.g. ``[784, 128, 10]``.
    activation : {'sigmoid', 'relu', 'tanh'}
        Activation of every hidden layer.
    output : {'softmax', 'sigmoid', 'identity'}
        Activation of the output layer.
    loss : {'cross_entropy', 'bce', 'mse'}
        Per-example loss; the network reports and differentiates its mean over the batch.
    init : {'he', 'xavier', 'normal', 'uniform'} or None
        Weight initialisation; None picks He for ReLU and Xavier for sigmoid and tanh.
    seed : int or None
        Seed of the initialisation.
    dtype : {'float64', 'float32'}
        float64 for teaching and gradient checks, float32 for speed. Every array of the
        network stays in this dtype.
    dropout : float
        Probability p in [0, 1) of dropping each hidden unit in a training pass
        (``forward(X, train=True)``, as ``fit`` does); 0, the default, is no dropout.
        Evaluation passes never drop.

    Attributes
    ----------
    params : dict of ndarray
        ``"W1"``, ``"b1"``, ..., ``"WL"``, ``"bL"``;
        ``W_l`` is ``(n_{l-1}, n_l)``, ``b_l`` is ``(n_l,)``.
    Z, A : list of ndarray
        After ``forward``: ``Z[l]`` and ``A[l]`` for l = 1..L,
        with ``A[0] = X`` and ``Z[0] = None``.
    masks : list of ndarray or None
        After ``forward``: the dropout mask ``D[l]`` (n, n_l) of each hidden layer in a
        training pass with dropout, None elsewhere (``masks[0]`` and ``masks[L]`` always).
    rng : numpy.random.Generator
        The generator that drew the initial weights; it goes on to draw the dropout masks.
    """

    def __init__(self, sizes, activation="relu", output="softmax", loss="cross_entropy",
                 init=None, seed=None, dtype="float64", dropout=0.0):
        sizes = list(sizes)
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
            raise ValueError(
                f"sizes must list at least two positive integers (inputs ... outputs), got {sizes}")
        self.sizes = [int(s) for s in sizes]
        self.activation = _validation.check_name("activation", activation, HIDDEN)
        self.output = _validation.check_name("output", output, OUTPUTS)
        self.loss_name = _validation.check_name("loss", loss, tuple(LOSSES))
        if (output, loss) not in _PAIRS:
            raise ValueError(f"output {output!r} with loss {loss!r} makes no sense: "
                             f"{_WHY_NOT[(output, loss)]}")
        if output == "softmax" and self.sizes[-1] < 2:
            raise ValueError("output 'softmax' needs at least 2 outputs; use 'sigmoid' for one")
        self.init = _validation.check_name("init", init or DEFAULT_INIT[activation], tuple(INITS))
        self.dtype = _validation.as_dtype(dtype)
        if not (isinstance(dropout, (int, float, np.floating, np.integer))
                and 0 <= dropout < 1):
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.params = {}
        for l in range(1, len(self.sizes)):
            W, b = INITS[self.init](self.rng, self.sizes[l - 1], self.sizes[l])
            self.params[f"W{l}"] = W.astype(self.dtype)
            self.params[f"b{l}"] = b.astype(self.dtype)
        self.Z, self.A, self.masks = [], [], []

    # -- structure -------------------------------------------------------------------
    @property
    def n_layers(self):
        """Number of weight layers L (hidden layers + output layer)."""
        return len(self.sizes) - 1

    @property
    def n_params(self):
        """Total number of weights and biases."""
        return sum(p.size for p in self.params.values())

    def __repr__(self):
        drop = f", dropout={self.dropout}" if self.dropout else ""
        return (f"MLP({self.sizes}, activation={self.activation!r}, output={self.output!r}, "
                f"loss={self.loss_name!r}, init={self.init!r}, dtype={self.dtype.name!r}{drop})")

    def copy(self, dtype=None):
        """A deep copy of the network, optionally converted to another dtype.

        The copy's generator starts in the state of the original's: both draw the same
        dropout masks from then on, independently.
        """
        net = type(self).__new__(type(self))  # keep subclasses (gradcheck copies the net)
        net.__dict__.update(self.__dict__)
        net.dtype = _validation.as_dtype(dtype or self.dtype)
        net.params = {k: v.astype(net.dtype, copy=True) for k, v in self.params.items()}
        net.rng = copy.deepcopy(self.rng)
        net.Z, net.A, net.masks = [], [], []
        return net

    # -- forward ---------------------------------------------------------------------
    def forward(self, X, *, check=True, train=False, rng=None):
        """Forward pass of a batch: X (n, n_0) -> P = A[L] (n, n_L); keeps every Z[l] and A[l].

        ``check=False`` skips the validation of X (2-D, n_0 columns, finite values, in the
        network's dtype): for training loops that validated their data once, like ``fit``.

        ``train=True`` marks a training pass, as ``fit`` makes: with ``dropout`` p > 0, each
        hidden activation is zeroed with probability p and the others scaled by 1/(1-p)
        (inverted dropout: the expected activation is unchanged, so evaluation needs no
        rescaling). The masks are drawn from ``rng`` if given, else from the network's own
        ``self.rng``, and kept in ``masks`` for ``backward``. ``train=False`` (evaluation,
        the default) never drops and draws nothing.
        """
        if check:
            X = _validation.check_X(X, self.sizes[0], self.dtype)
        drop = train and self.dropout > 0
        if drop and rng is None:
            rng = self.rng
        g = ACTIVATIONS[self.activation]
        self.Z, self.A, self.masks = [None], [X], [None]
        A = X
        L = self.n_layers
        for l in range(1, L + 1):
            Z = A @ self.params[f"W{l}"] + self.params[f"b{l}"]
            A = (ACTIVATIONS[self.output] if l == L else g)(Z)
            D = None
            if drop and l < L:
                keep = rng.random(A.shape) >= self.dropout
                D = keep.astype(self.dtype) / self.dtype.type(1 - self.dropout)
                A = A * D
            self.Z.append(Z)
            self.A.append(A)
            self.masks.append(D)
        return A

    def predict(self, X, batch_size=10000):
        """Predicted class of each row of X: argmax of the outputs (p > 0.5 for one output).

        Works in chunks of ``batch_size`` rows and clears the cache ``Z``/``A`` afterwards
        (a 10,000-row cache would otherwise stay in memory).
        """
        X = _validation.check_X(X, self.sizes[0], self.dtype)
        P = np.concatenate([self.forward(X[i:i + batch_size], check=False)
                            for i in range(0, len(X), batch_size)])
        self.Z, self.A, self.masks = [], [], []  # do not keep a 10k-row cache around
        return (P[:, 0] > 0.5).astype(np.int64) if P.shape[1] == 1 else P.argmax(axis=1)

    def accuracy(self, X, y):
        """Fraction of rows of X whose predicted class equals the integer label y.

        Like ``predict``, clears the cache ``Z``/``A``.
        """
        y = _validation.check_labels(y, max(self.sizes[-1], 2))
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        return float(np.mean(self.predict(X) == y))

    # -- loss ------------------------------------------------------------------------
    def loss(self, P, Y, *, check=True):
        """Mean over the batch of the per-example loss.

        Y may be one-hot rows (n, n_L) or integer labels (n,). When P is the output of the
        last ``forward`` call and the output/loss pair is fused, the loss is computed from
        the logits Z[L], which stays exact for saturated units (|z| = 1000).
        ``check=False`` takes P and Y as they are: Y must then be (n, n_L) in the network's
        dtype (for training loops that built their targets once, like ``fit``).
        """
        if check:
            P = np.asarray(P)
            if P.ndim != 2 or P.shape[1] != self.sizes[-1]:
                raise ValueError(f"P must have shape (n, {self.sizes[-1]}), got {P.shape}")
            Y = _validation.check_Y(Y, len(P), self.sizes[-1], self.dtype)
        fused = FUSED.get((self.output, self.loss_name))
        if fused is not None and self.A and P is self.A[-1]:
            return fused(self.Z[-1], Y)
        return LOSSES[self.loss_name](P, Y)

    # -- backward --------------------------------------------------------------------
    def backward(self, Y, *, check=True):
        """Gradients of the mean loss of the last forward batch: a dict with params' keys.

        Y may be one-hot rows (n, n_L) or integer labels (n,). The parameters are not
        changed: an optimizer applies the gradients. ``check=False`` takes Y as it is,
        (n, n_L) in the network's dtype, as ``loss`` does. After a training pass with
        dropout, the gradients flow through the units that pass kept (its ``masks``).
        With a softmax output and cross-entropy, each target row must be a probability
        distribution, or a ValueError names the first that is not: the gradient (P - Y) / n
        is exact only for rows that sum to 1 (chapter 7).
        """
        if not self.A:
            raise RuntimeError("call forward(X) before backward(Y)")
        if check:
            Y = _validation.check_Y(Y, len(self.A[0]), self.sizes[-1], self.dtype)
            if (self.output, self.loss_name) == ("softmax", "cross_entropy"):
                _validation.check_distributions(Y)
        L = self.n_layers
        P, n = self.A[L], len(self.A[0])
        if (self.output, self.loss_name) in FUSED:
            # sigmoid + bce and softmax + cross_entropy: the output derivative cancels
            # the loss derivative's denominator, leaving (P - Y) / n.
            dZ = (P - Y) / n
        else:
            dA = LOSS_GRADS[self.loss_name](P, Y)
            if self.output == "softmax":
                dZ = softmax_backward(dA, P)
            else:
                dZ = dA * DERIVATIVES[self.output](self.Z[L])
        dZ = dZ.astype(self.dtype, copy=False)
        grads = {}
        g_prime = DERIVATIVES[self.activation]
        for l in range(L, 0, -1):
            # With one example A.T @ dZ is an outer product, which OpenBLAS's matrix product
            # takes 5 times longer to form than NumPy's broadcasting (the same numbers).
            grads[f"W{l}"] = self.A[l - 1].T * dZ if n == 1 else self.A[l - 1].T @ dZ
            grads[f"b{l}"] = dZ.sum(axis=0)
            if l > 1:
                dA_prev = dZ @ self.params[f"W{l}"].T
                D = self.masks[l - 1]
                if D is not None:  # a dropped unit passed nothing forward, so gets no gradient
                    dA_prev = dA_prev * D
                dZ = dA_prev * g_prime(self.Z[l - 1])
        return {k: grads[k] for k in self.params}  # same order as params
