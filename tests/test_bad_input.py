"""Every bad input raises ValueError or TypeError naming the argument, expected and actual."""

import numpy as np
import pytest

import bpcourse as bp


@pytest.fixture
def net():
    return bp.MLP([784, 16, 10], seed=0)


def test_wrong_number_of_columns(net):
    with pytest.raises(ValueError, match=r"X has 783 columns .* expects 784 .* got \(5, 783\)"):
        net.forward(np.zeros((5, 783)))


def test_one_dimensional_input(net):
    with pytest.raises(ValueError, match=r"2-D .* got shape \(784,\).*reshape\(1, -1\)"):
        net.forward(np.zeros(784))


def test_empty_batch(net):
    with pytest.raises(ValueError, match="empty batch"):
        net.forward(np.zeros((0, 784)))


@pytest.mark.parametrize("X,match", [
    (np.array([["a"] * 784]), "must hold numbers"),
    (np.zeros((1, 784), dtype=complex), "must be real"),
    (np.array([[None] * 784]), "must hold numbers"),
])
def test_wrong_dtype(net, X, match):
    with pytest.raises(TypeError, match=match):
        net.forward(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input(net, bad):
    X = np.zeros((2, 784))
    X[1, 3] = bad
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        net.forward(X)


def test_targets(net):
    P = net.forward(np.zeros((3, 784)))
    with pytest.raises(ValueError, match=r"Y has shape \(3, 9\) .* output has shape \(3, 10\)"):
        net.loss(P, np.zeros((3, 9)))
    with pytest.raises(ValueError, match=r"out of range: expected 0..9, got min 0 and max 10"):
        net.backward(np.array([0, 3, 10]))
    with pytest.raises(ValueError, match="labels out of range"):
        net.backward(np.array([-1, 3, 1]))
    with pytest.raises(ValueError, match="Y has 2 labels but the batch has 3"):
        net.backward(np.array([0, 1]))
    with pytest.raises(TypeError, match="integer class labels"):
        net.backward(np.array([0.5, 1, 2]))
    with pytest.raises(ValueError, match="Y contains NaN"):
        net.backward(np.full((3, 10), np.nan))


@pytest.mark.parametrize(("row", "match"), [
    ([1.0, 1.0] + [0.0] * 8, r"row 1 \(sum 2, min 0\) is not a probability distribution"),
    ([1.5, -0.5] + [0.0] * 8, r"row 1 \(sum 1, min -0.5\)"),
])
def test_softmax_cross_entropy_targets_must_be_distributions(net, row, match):
    """(P - Y) / n is the gradient only for rows summing to 1: others are refused, not used."""
    Y = np.eye(10)[[3, 0, 5]]
    Y[1] = row
    net.forward(np.zeros((3, 784)))
    with pytest.raises(ValueError, match=match):
        net.backward(Y)
    smooth = np.full((3, 10), 0.01) + 0.9 * np.eye(10)[[3, 0, 5]]  # label smoothing: fine
    net.forward(np.zeros((3, 784)))
    assert set(net.backward(smooth)) == set(net.params)


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match=r"call forward\(X\) before backward"):
        bp.MLP([2, 2], seed=0).backward(np.array([0]))


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"activation": "swish"}, ValueError, "unknown activation 'swish': expected one of"),
    ({"output": "relu"}, ValueError, "unknown output 'relu'"),
    ({"loss": "hinge"}, ValueError, "unknown loss 'hinge'"),
    ({"init": "zeros"}, ValueError, "unknown init 'zeros'"),
    ({"dtype": "float16"}, TypeError, "dtype must be 'float32' or 'float64', got 'float16'"),
    ({"dtype": "banana"}, TypeError, "dtype must be"),
    ({"output": "identity", "loss": "cross_entropy"}, ValueError, "makes no sense"),
    ({"output": "sigmoid", "loss": "cross_entropy"}, ValueError, "do not sum to 1"),
    ({"output": "identity", "loss": "bce"}, ValueError, "outputs in \\(0, 1\\)"),
])
def test_bad_constructor_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        bp.MLP([4, 3, 2], **kwargs)


@pytest.mark.parametrize("sizes", [[784], [], [784, 0, 10], [784, 2.5, 10], [-1, 3]])
def test_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes must list"):
        bp.MLP(sizes)


def test_softmax_needs_two_outputs():
    with pytest.raises(ValueError, match="at least 2 outputs"):
        bp.MLP([3, 1], output="softmax")


def test_loss_checks_prediction_shape(net):
    with pytest.raises(ValueError, match=r"P must have shape \(n, 10\), got \(3, 4\)"):
        net.loss(np.zeros((3, 4)), np.zeros(3, dtype=int))


def test_load_mnist_arguments():
    with pytest.raises(ValueError, match="split must be 'nielsen' or 'standard', got 'x'"):
        bp.load_mnist(split="x")
    with pytest.raises(TypeError, match="dtype"):
        bp.load_mnist(dtype="int8")
