"""A tiny reverse-mode autodiff on scalars, in the spirit of Karpathy's micrograd.

Every arithmetic operation on ``Value`` objects records its inputs and the local
derivative; ``backward()`` then applies the chain rule from the output back to every
input, in reverse topological order, adding up the contributions of every path:

    x = Value(2.0); y = Value(-3.0)
    z = (x * y + x).tanh()
    z.backward()            # x.grad = dz/dx = (1 - z^2)(y + 1), y.grad = (1 - z^2) x

The matrix code of ``bpcourse.mlp`` computes the same gradients a layer at a time; the
``MLP`` below builds the graph one multiplication at a time from the same parameters
(``W_l`` of shape ``(n_in, n_out)``, ``b_l`` of shape ``(n_out,)``), so the two can be
compared entry by entry. Chapter 4 runs the chain rule on such graphs by hand; chapter 5
turns it into this code.
"""

import math
import random

import numpy as np

__all__ = ["MLP", "Layer", "Value", "bce", "cross_entropy", "mse"]


class Value:
    """A scalar that remembers how it was computed, so that gradients can flow back to it.

    Parameters
    ----------
    data : float
        The value.

    Attributes
    ----------
    data : float
    grad : float
        dL/d(this value) after ``L.backward()``; starts at 0 and accumulates over calls.
    """

    __slots__ = ("data", "grad", "_backward", "_prev", "_op")

    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        # _backward(g), g = dL/d(this value): adds g * local derivative to each input's grad.
        # It is given g rather than reading this value's grad: a closure that referred to the
        # value itself would make a reference cycle (value -> _backward -> value), and every
        # graph would wait for Python's cyclic garbage collector instead of being freed as
        # soon as its output is dropped.
        self._backward = None
        self._prev = _children
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    @property
    def inputs(self):
        """The Values this one was computed from; () for an input or a parameter."""
        return self._prev

    @property
    def op(self):
        """The operation that computed this value ('+', '*', 'tanh', ...); '' for an input."""
        return self._op

    # -- operations ------------------------------------------------------------------
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward(g):
            self.grad += g
            other.grad += g
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward(g):
            self.grad += other.data * g
            other.grad += self.data * g
        out._backward = _backward
        return out

    def __pow__(self, k):
        if not isinstance(k, (int, float)):
            raise TypeError(f"Value ** k needs a number k (int or float), got {type(k).__name__}")
        out = Value(self.data ** k, (self,), f"**{k}")

        def _backward(g):
            self.grad += k * self.data ** (k - 1) * g
        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward(g):
            self.grad += e * g  # (e^x)' = e^x
        out._backward = _backward
        return out

    def log(self):
        if self.data <= 0:
            raise ValueError(f"log of a non-positive value ({self.data})")
        out = Value(math.log(self.data), (self,), "log")

        def _backward(g):
            self.grad += g / self.data
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward(g):
            self.grad += (1 - t ** 2) * g
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward(g):
            # 0 at the kink z = 0, as bpcourse.activations.relu_prime.
            self.grad += (self.data > 0) * g
        out._backward = _backward
        return out

    def sigmoid(self):
        e = math.exp(-abs(self.data))  # never overflows, as bpcourse.activations.sigmoid
        s = 1 / (1 + e) if self.data >= 0 else e / (1 + e)
        out = Value(s, (self,), "sigmoid")

        def _backward(g):
            self.grad += s * (1 - s) * g
        out._backward = _backward
        return out

    # Everything else is made of the operations above.
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

    def __radd__(self, other):  # 2 + x, and sum([...]), which starts from 0
        return self + other

    def __rsub__(self, other):  # 2 - x
        return (-self) + other

    def __rmul__(self, other):  # 2 * x
        return self * other

    def __rtruediv__(self, other):  # 2 / x
        return self ** -1 * other

    # -- backward --------------------------------------------------------------------
    def backward(self):
        """Chain rule from this value to every value it was computed from.

        Sets this value's grad to 1 (dL/dL) and adds dL/dv to ``v.grad`` for every v in its
        graph. Grads accumulate, as in PyTorch: call ``zero_grad`` between two passes.
        """
        topo = self.nodes()
        self.grad = 1.0
        for v in reversed(topo):
            if v._backward is not None:
                v._backward(v.grad)

    def nodes(self):
        """This value and every value it was computed from, each listed after its inputs.

        A topological order of the graph: ``backward`` runs it in reverse, so that a value's
        grad is complete (every value computed from it has added its share) before it is
        passed on to the value's own inputs.
        """
        # Depth-first with an explicit stack, not recursion: a graph 10,000 nodes deep would
        # pass Python's recursion limit (1,000). A node is listed after all of its inputs.
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            v, inputs_done = stack.pop()
            if inputs_done:
                order.append(v)
            elif v not in seen:
                seen.add(v)
                stack.append((v, True))
                stack.extend((c, False) for c in v._prev if c not in seen)
        return order


def _as_values(a):
    """A nested list of Values from an array (or nested list) of numbers."""
    return [_as_values(x) for x in a] if np.ndim(a) else Value(a)


def _apply(name, z):
    return z if name == "identity" else getattr(z, name)()


class Layer:
    """A fully connected layer of Values: z_j = b_j + sum_i a_i W[i][j], then a_j = g(z_j).

    ``W`` is a list of n_in rows of n_out Values (shape (n_in, n_out), as in ``bpcourse.MLP``),
    ``b`` a list of n_out Values.
    """

    def __init__(self, W, b, activation="identity"):
        self.W, self.b = _as_values(W), _as_values(b)
        if activation not in ("identity", *_ELEMENTWISE):
            raise ValueError(f"activation must be one of identity, {', '.join(_ELEMENTWISE)}; "
                             f"got {activation!r}")
        self.activation = activation

    def __call__(self, a):
        """Outputs (n_out Values) of one example's inputs ``a`` (n_in Values or numbers)."""
        n_out = len(self.b)
        return [_apply(self.activation,
                       sum((a_i * row[j] for a_i, row in zip(a, self.W, strict=True)),
                           self.b[j]))
                for j in range(n_out)]

    def parameters(self):
        return [w for row in self.W for w in row] + self.b


_ELEMENTWISE = ("relu", "sigmoid", "tanh")


class MLP:
    """A multilayer perceptron of Values, one example at a time.

    Parameters
    ----------
    sizes : list of int
        Layer widths from input to output.
    activation : {'relu', 'sigmoid', 'tanh'}
        Activation of every hidden layer.
    output : {'identity', 'sigmoid', 'tanh', 'relu'}
        Activation of the output layer. There is no softmax: ``cross_entropy`` takes the
        logits (output 'identity') and applies it, as ``bpcourse.MLP`` fuses softmax with
        cross-entropy; ``bce`` takes the logits too, for ``bpcourse.MLP``'s sigmoid + bce.
    seed : int or None
        Seed of the initialisation, uniform in +-1/sqrt(n_in) (micrograd's is +-1).
    params : dict of array, optional
        ``{"W1": (n_0, n_1), "b1": (n_1,), ...}``, e.g. ``bpcourse.MLP(...).params``: start
        from these weights instead (``sizes`` is then read from them and may be None).
    """

    def __init__(self, sizes=None, activation="relu", output="identity", seed=None,
                 params=None):
        if params is None:
            if sizes is None or len(sizes) < 2:
                raise ValueError("give sizes (at least two widths) or params")
            rnd = random.Random(seed)
            params = {}
            for l in range(1, len(sizes)):
                r = 1 / math.sqrt(sizes[l - 1])
                params[f"W{l}"] = [[rnd.uniform(-r, r) for _ in range(sizes[l])]
                                   for _ in range(sizes[l - 1])]
                params[f"b{l}"] = [0.0] * sizes[l]
        L = len(params) // 2
        self.layers = [Layer(params[f"W{l}"], params[f"b{l}"],
                             output if l == L else activation) for l in range(1, L + 1)]
        self.sizes = [len(self.layers[0].W)] + [len(layer.b) for layer in self.layers]

    def __call__(self, x):
        """Outputs (n_L Values) of one example ``x`` (n_0 numbers or Values)."""
        # NumPy scalars would take over `x_i * w` (NumPy's __mul__ runs first): plain floats.
        x = [x_i if isinstance(x_i, Value) else float(x_i) for x_i in x]
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        """Every weight and bias, as a flat list of Values."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0

    def grads(self):
        """The parameters' grads as arrays with ``bpcourse.MLP``'s keys and shapes."""
        return self._arrays("grad")

    def arrays(self):
        """The parameters' data as arrays with ``bpcourse.MLP``'s keys and shapes.

        ``bpcourse.MLP(...).params = net.arrays()`` gives the matrix network these weights.
        """
        return self._arrays("data")

    def _arrays(self, attr):
        out = {}
        for l, layer in enumerate(self.layers, start=1):
            out[f"W{l}"] = np.array([[getattr(w, attr) for w in row] for row in layer.W])
            out[f"b{l}"] = np.array([getattr(b, attr) for b in layer.b])
        return out

    def loss(self, X, Y, loss="mse"):
        """Mean over the rows of X (n, n_0) of the per-example ``loss`` against Y (n, n_L).

        ``loss`` is 'mse', 'cross_entropy' or 'bce' (both of these on the logits).
        """
        per_example = {"mse": mse, "cross_entropy": cross_entropy, "bce": bce}[loss]
        return sum(per_example(self(x), y) for x, y in zip(X, Y, strict=True)) / len(X)


def mse(p, y):
    """1/2 sum_k (p_k - y_k)^2 for one example, as ``bpcourse.losses.mse``."""
    return 0.5 * sum((p_k - float(y_k)) ** 2 for p_k, y_k in zip(p, y, strict=True))


def cross_entropy(z, y):
    """-sum_k y_k ln softmax(z)_k for one example's logits z, by the log-sum-exp trick.

    ln softmax(z)_k = z_k - m - ln sum_j e^(z_j - m); m, the largest logit, is a constant
    (it keeps exp from overflowing and changes no derivative).
    """
    m = max(z_k.data for z_k in z)
    lse = sum((z_j - m).exp() for z_j in z).log()
    return -sum(float(y_k) * (z_k - m - lse) for z_k, y_k in zip(z, y, strict=True))


def bce(z, y):
    """-sum_k [y_k ln sigma(z_k) + (1 - y_k) ln(1 - sigma(z_k))] for one example's logits z.

    That is sum_k softplus(z_k) - y_k z_k, as ``bpcourse.losses.bce_with_logits``, with
    softplus(z) = ln(1 + e^z) = m + ln(e^-m + e^(z - m)); m = max(z, 0) is a constant that
    keeps exp from overflowing, as in ``cross_entropy``. d/dz softplus(z) = sigma(z).
    """
    total = 0.0
    for z_k, y_k in zip(z, y, strict=True):
        m = max(z_k.data, 0.0)
        total = total + m + (math.exp(-m) + (z_k - m).exp()).log() - float(y_k) * z_k
    return total
