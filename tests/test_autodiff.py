"""bpcourse.autodiff: scalar reverse-mode autodiff, checked by central differences and
against the matrix backpropagation of bpcourse.MLP."""

import gc
import math
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bpcourse as bp
from bpcourse.autodiff import MLP, Value, bce

EPS = 1e-6

UNARY = {
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "tanh": lambda x: x.tanh(),
    "relu": lambda x: x.relu(),
    "sigmoid": lambda x: x.sigmoid(),
    "neg": lambda x: -x,
    "square": lambda x: x ** 2,
    "cube": lambda x: x ** 3,
    "reciprocal": lambda x: x ** -1,
    "sqrt": lambda x: x ** 0.5,
    "radd": lambda x: 2.5 + x,
    "rsub": lambda x: 2.5 - x,
    "rmul": lambda x: 2.5 * x,
    "rtruediv": lambda x: 2.5 / x,
    "add_number": lambda x: x + 2.5,
    "sub_number": lambda x: x - 2.5,
    "mul_number": lambda x: x * 2.5,
    "div_number": lambda x: x / 2.5,
}
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "truediv": lambda x, y: x / y,
}


def _central(f, *args, i):
    # (f(a + eps e_i) - f(a - eps e_i)) / (2 eps), evaluated on the Values' data only.
    hi = [a + EPS * (j == i) for j, a in enumerate(args)]
    lo = [a - EPS * (j == i) for j, a in enumerate(args)]
    return (f(*map(Value, hi)).data - f(*map(Value, lo)).data) / (2 * EPS)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("a", [-1.3, 0.4, 2.1])
def test_unary_gradients_match_central_differences(name, a):
    f = UNARY[name]
    if name in ("log", "sqrt") and a <= 0:
        a = -a
    x = Value(a)
    f(x).backward()
    assert x.grad == pytest.approx(_central(f, a, i=0), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("name", BINARY)
def test_binary_gradients_match_central_differences(name):
    f = BINARY[name]
    for a, b in [(1.5, -0.7), (-2.0, 3.0)]:
        x, y = Value(a), Value(b)
        f(x, y).backward()
        assert x.grad == pytest.approx(_central(f, a, b, i=0), rel=1e-7)
        assert y.grad == pytest.approx(_central(f, a, b, i=1), rel=1e-7)


def test_the_docstring_example_by_hand():
    x, y = Value(2.0), Value(-3.0)
    z = (x * y + x).tanh()
    z.backward()
    t = math.tanh(-4.0)
    assert z.data == t and z.grad == 1.0
    assert x.grad == pytest.approx((1 - t * t) * (-3.0 + 1))  # dz/dx = (1 - z^2)(y + 1)
    assert y.grad == pytest.approx((1 - t * t) * 2.0)  # dz/dy = (1 - z^2) x


def test_relu_and_sigmoid_edge_cases():
    z = Value(0.0)
    z.relu().backward()
    assert z.grad == 0.0  # the kink: 0, as bpcourse.activations.relu_prime
    for a in (-1000.0, 1000.0):  # saturated: no overflow, a zero gradient
        z = Value(a)
        s = z.sigmoid()
        s.backward()
        assert s.data == (0.0 if a < 0 else 1.0) and z.grad == 0.0
    with pytest.raises(ValueError, match="log of a non-positive value"):
        Value(0.0).log()
    with pytest.raises(TypeError, match="needs a number"):
        Value(2.0) ** Value(3.0)


def test_a_shared_node_accumulates_its_gradient():
    a, b = Value(3.0), Value(-2.0)
    (a * a).backward()
    assert a.grad == 6.0  # both paths: d(a a)/da = a + a
    a.grad = 0.0
    (a + a).backward()
    assert a.grad == 2.0
    a.grad = 0.0
    c = a * b  # c feeds the output twice, and a reaches it along three paths
    d = c * c + c * a
    d.backward()
    # d = a^2 b^2 + a^2 b: dd/da = 2 a b^2 + 2 a b = 24 - 12, dd/db = 2 a^2 b + a^2 = -36 + 9
    assert (a.grad, b.grad, c.grad) == (12.0, -27.0, 2 * c.data + a.data)


def test_arrays_read_the_parameters_back_in_the_matrix_networks_shapes():
    net = bp.MLP([3, 4, 2], activation="tanh", seed=1)
    scalar = MLP(params=net.params, activation="tanh")
    arrays = scalar.arrays()
    assert list(arrays) == list(net.params)
    for k, p in net.params.items():
        assert arrays[k].shape == p.shape and arrays[k].dtype == np.float64
        assert_allclose(arrays[k], p, rtol=0, atol=0)
    scalar.layers[0].W[2][1].data = 7.0  # arrays are copies of the Values' data, read now
    assert scalar.arrays()["W1"][2, 1] == 7.0 and arrays["W1"][2, 1] == net.params["W1"][2, 1]


def test_grads_accumulate_over_backward_calls_until_zeroed():
    net = MLP([2, 3, 1], activation="tanh", seed=0)
    loss = net.loss([[0.5, -1.0]], [[1.0]])
    loss.backward()
    once = net.grads()
    net.loss([[0.5, -1.0]], [[1.0]]).backward()
    for k, g in net.grads().items():
        assert_allclose(g, 2 * once[k])
    net.zero_grad()
    assert all(p.grad == 0.0 for p in net.parameters())


def test_a_dropped_graph_is_freed_without_the_cyclic_garbage_collector():
    # No reference cycles (a node's _backward does not refer to the node), so reference
    # counting frees a graph as soon as its output is dropped: the collector finds nothing.
    def loss_graph():
        net = MLP([2, 3, 1], activation="tanh", seed=0)
        L = net.loss([[0.5, -1.0], [1.0, 2.0]], [[1.0], [0.0]])
        L.backward()
        return len(L.nodes())

    gc.collect()
    gc.disable()
    try:
        assert loss_graph() > 50
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_graph_10000_nodes_deep():
    # A chain of 10,000 additions: a recursive topological sort would pass Python's
    # recursion limit (1,000 by default), and this one must not.
    assert sys.getrecursionlimit() < 10_000
    x = Value(0.5)
    y = x
    for _ in range(10_000):
        y = y + x
    y.backward()
    assert y.data == 10_001 * 0.5
    assert x.grad == 10_001.0


def test_the_graph_is_readable_inputs_before_outputs():
    x, y = Value(2.0), Value(-3.0)
    q = x * y
    z = (q + x).tanh()
    order = z.nodes()
    s = z.inputs[0]
    assert [id(v) for v in order[2:]] == [id(q), id(s), id(z)]  # x feeds q and s: listed once
    assert {id(v) for v in order[:2]} == {id(x), id(y)}
    for i, v in enumerate(order):  # every input comes before the value computed from it
        assert all(order.index(u) < i for u in v.inputs)
    assert (z.op, q.op, x.op) == ("tanh", "*", "")
    assert q.inputs == (x, y) and x.inputs == ()


def test_bce_on_logits_equals_the_packages_and_never_overflows():
    Y = np.array([1.0, 0.0])
    for z in ([0.3, -2.0], [1000.0, -1000.0], [-1000.0, 1000.0]):
        want = bp.losses.bce_with_logits(np.array([z]), Y[None])
        zs = [Value(a) for a in z]
        loss = bce(zs, Y)
        loss.backward()
        assert loss.data == pytest.approx(want, rel=1e-12)  # 2000 for the wrong saturated pair
        # dl/dz = sigma(z) - y: exactly 0 or +-1 when saturated, no NaN
        assert_allclose([v.grad for v in zs], bp.activations.sigmoid(np.array(z)) - Y,
                        rtol=1e-12, atol=1e-15)


def _data(rng, output, n, k, loss="mse"):
    if output == "softmax":
        return bp.one_hot(rng.integers(0, k, n), k)
    if loss == "bce":
        return rng.integers(0, 2, (n, k)).astype(float)
    return rng.standard_normal((n, k))


# bpcourse.MLP's output activation -> the autodiff MLP's, whose loss takes the logits when
# bpcourse.MLP fuses the output with its loss
LOGITS = {("softmax", "cross_entropy"), ("sigmoid", "bce")}


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("output,loss", [("softmax", "cross_entropy"), ("identity", "mse"),
                                         ("sigmoid", "mse"), ("sigmoid", "bce")])
def test_network_gradients_equal_matrix_backprop_and_central_differences(
        activation, output, loss, rng):
    sizes = [3, 5, 4, 3]
    net = bp.MLP(sizes, activation=activation, output=output, loss=loss, seed=2)
    X, Y = rng.standard_normal((4, 3)), _data(rng, output, 4, 3, loss)
    P = net.forward(X)
    matrix = net.backward(Y)
    # softmax (sigmoid) lives in the autodiff cross-entropy (bce), which takes the logits
    scalar = MLP(params=net.params, activation=activation,
                 output="identity" if (output, loss) in LOGITS else output)
    assert scalar.sizes == sizes
    L = scalar.loss(X, Y, loss)
    assert L.data == pytest.approx(net.loss(P, Y), rel=1e-12)
    L.backward()
    grads = scalar.grads()
    assert list(grads) == list(net.params)
    for k in net.params:
        assert grads[k].shape == net.params[k].shape
        assert_allclose(grads[k], matrix[k], rtol=1e-10, atol=1e-12)
    # and both are the numerical gradient of the loss that the Values compute
    for k, p in net.params.items():
        def loss_of_values(p=p):
            return MLP(params=net.params, activation=activation,
                       output=scalar.layers[-1].activation).loss(X, Y, loss).data
        numeric = bp.numerical_gradient(loss_of_values, p)
        assert bp.relative_error(grads[k], numeric) < 1e-7, k


def test_a_scalar_mlp_from_its_own_init_learns():
    net = MLP([2, 8, 1], activation="tanh", seed=0)
    assert [len(layer.W) for layer in net.layers] == [2, 8]
    assert len(net.parameters()) == 2 * 8 + 8 + 8 * 1 + 1
    X, Y = [[0, 0], [0, 1], [1, 0], [1, 1]], [[-1], [1], [1], [-1]]  # XOR
    first = None
    for _ in range(300):  # plain gradient descent; converges for seeds 0-7
        net.zero_grad()
        L = net.loss(X, Y)
        L.backward()
        first = L.data if first is None else first
        for p in net.parameters():
            p.data -= 0.3 * p.grad
    assert net.loss(X, Y).data < first / 100


def test_import_bpcourse_loads_autodiff_on_first_use():
    code = """
import sys
import bpcourse as bp
assert "bpcourse.autodiff" not in sys.modules
assert "autodiff" in dir(bp) and "autodiff" in bp.__all__
assert bp.autodiff.Value(2.0).data == 2.0
assert "bpcourse.autodiff" in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True)
