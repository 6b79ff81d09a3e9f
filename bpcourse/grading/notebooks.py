"""Writes the instructor's source notebooks ``solutions/ps*/ps*.ipynb`` (nbgrader format).

The notebooks are committed; this script is how they were made, and how to regenerate
them after editing the cells below::

    python -m bpcourse.grading.notebooks [course_dir]

then ``make release`` to refresh ``assignments/``. Each assignment is a list of cells:

* ``md(text)``: locked text;  ``code(src)``: locked set-up code (students run it);
* ``answer(id, src)``: the student's code, solution between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``; signature and docstring stay outside;
* ``test(id, points, src)``: one graded behaviour: visible tests, then hidden tests between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``;
* ``manual(id, points, src, markdown=False)``: an answer graded by hand (with a rubric);
* ``scratch(src)``: an ordinary cell with no grading metadata (self-checks).
"""

import sys
from pathlib import Path

import nbformat

ASSIGNMENTS = {}


def _cell(kind, src, grade_id=None, *, grade=False, solution=False, locked=False,
          points=None):
    src = src.strip("\n")
    cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
    if kind == "code":
        cell.outputs, cell.execution_count = [], None
    if grade_id is not None:
        meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
                "schema_version": 3, "solution": solution, "task": False}
        if grade:
            meta["points"] = points
        cell.metadata["nbgrader"] = meta
    cell.pop("id", None)
    return cell


def md(grade_id, src):
    return _cell("md", src, grade_id, locked=True)


def code(grade_id, src):
    return _cell("code", src, grade_id, locked=True)


def scratch(src):
    return _cell("code", src)


def answer(grade_id, src):
    return _cell("code", src, grade_id, solution=True)


def test(grade_id, points, src):
    return _cell("code", src, grade_id, grade=True, locked=True, points=points)


def manual(grade_id, points, src, markdown=False):
    return _cell("md" if markdown else "code", src, grade_id, grade=True, solution=True,
                 points=points)


HOW = """
**How this notebook is graded.** Write your code where it says `YOUR CODE HERE` (delete the
`raise NotImplementedError()` line). Do not rename the functions, and do not delete, copy or
move cells: every test cell is one graded behaviour worth the points in its header. Each
test cell starts with *visible tests* that you can run now (shape, dtype, one easy value);
when grading, hidden tests follow them in the same cell and compare your function with the
course's reference on random inputs of several shapes, edge cases and saturated inputs. A
failing test says what is wrong, and names the mistake when it recognises a common one.
Write the graded functions yourself: an answer cell that uses `bpcourse` (the course's
reference) scores 0 for its functions, and so does a graded function defined again in
another cell. Use `bpcourse` freely in cells of your own (data, gradient checks).

Before you submit: *Kernel > Restart Kernel and Run All Cells*, check that every visible
test passes, then press **Validate** in the toolbar (or run `nbgrader validate` on the file).
"""

# -- ps1 -------------------------------------------------------------------------------
ASSIGNMENTS["ps1"] = [
    md("ps1-intro", """
# Problem set 1: activations and losses

You will write the activation functions of a neural network and their derivatives, then
the binary cross-entropy (BCE) loss of a logistic output and its gradient, all in NumPy,
all **elementwise on arrays of any shape**, and all **numerically stable**: `z = 1000`
must not give `nan` or `inf`. Chapters 2 and 3 of the book derive everything needed.
""" + HOW),
    code("ps1-setup", "import numpy as np"),
    md("ps1-sigmoid-md", r"""
## 1. The sigmoid and its derivative

$$\sigma(z) = \frac{1}{1 + e^{-z}}$$

`np.exp(1000)` overflows to `inf` (with a warning), and some ways of writing the formula
then give `inf / inf = nan`. Make `sigmoid` exact for every `z`, from `-1000` to `1000`.
"""),
    answer("sigmoid", '''
def sigmoid(z):
    """Logistic sigmoid 1 / (1 + e^-z), elementwise.

    Parameters
    ----------
    z : ndarray of any shape
        Pre-activations.

    Returns
    -------
    ndarray of floats, the shape of z, every value in [0, 1] and never nan,
    even for z = -1000 or z = 1000.
    """
    ### BEGIN SOLUTION
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))  # never overflows: the exponent is <= 0
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION
'''),
    test("test_sigmoid", 2, '''
"""sigmoid: right values for any shape, including saturated inputs |z| = 1000 (2 points)."""
from bpcourse.grading import explain

with explain("sigmoid", sigmoid):
    s = sigmoid(np.array([-1.0, 0.0, 2.0]))
    assert s.shape == (3,), f"expected shape (3,), got {np.shape(s)}"
    assert np.issubdtype(s.dtype, np.floating), f"expected floats, got dtype {s.dtype}"
    assert np.isclose(s[1], 0.5), f"sigmoid(0) should be 0.5, got {s[1]}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("sigmoid", sigmoid)
### END HIDDEN TESTS
'''),
    md("ps1-sigmoid-prime-md", r"""
The derivative $\sigma'(z)$ takes the pre-activation $z$ (not the activation
$a = \sigma(z)$), as everywhere in this course. Derive it, then write it in terms of
$\sigma(z)$.
"""),
    answer("sigmoid_prime", '''
def sigmoid_prime(z):
    """Derivative of the sigmoid at z, elementwise.

    Parameters
    ----------
    z : ndarray of any shape
        Pre-activations (not the sigmoid's output).

    Returns
    -------
    ndarray of floats, the shape of z.
    """
    ### BEGIN SOLUTION
    s = sigmoid(z)
    return s * (1 - s)
    ### END SOLUTION
'''),
    test("test_sigmoid_prime", 2, '''
"""sigmoid_prime: the derivative, for any shape and saturated inputs (2 points)."""
from bpcourse.grading import explain

with explain("sigmoid_prime", sigmoid_prime):
    d = sigmoid_prime(np.array([0.0, 3.0]))
    assert d.shape == (2,), f"expected shape (2,), got {np.shape(d)}"
    assert np.isclose(d[0], 0.25), f"sigmoid_prime(0) should be 0.25, got {d[0]}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("sigmoid_prime", sigmoid_prime)
### END HIDDEN TESTS
'''),
    md("ps1-relu-md", r"""
## 2. ReLU and tanh

$\mathrm{relu}(z) = \max(z, 0)$; its derivative is 1 for $z > 0$ and 0 for $z < 0$. At the
kink $z = 0$ this course takes the derivative to be **0**. $\tanh'(z) = 1 - \tanh(z)^2$
(you may use `np.tanh`). A function must never change the array it is given.
"""),
    answer("relu", '''
def relu(z):
    """Rectified linear unit max(z, 0), elementwise; z itself is left unchanged.

    Parameters
    ----------
    z : ndarray of any shape

    Returns
    -------
    ndarray of floats, the shape of z.
    """
    ### BEGIN SOLUTION
    return np.maximum(z, 0.0)
    ### END SOLUTION
'''),
    test("test_relu", 1, '''
"""relu: values, shape, and the input left unchanged (1 point)."""
from bpcourse.grading import explain

with explain("relu", relu):
    r = relu(np.array([-2.0, 0.0, 3.0]))
    assert r.shape == (3,), f"expected shape (3,), got {np.shape(r)}"
    assert np.allclose(r, [0.0, 0.0, 3.0]), f"relu([-2, 0, 3]) should be [0, 0, 3], got {r}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("relu", relu)
### END HIDDEN TESTS
'''),
    answer("relu_prime", '''
def relu_prime(z):
    """Derivative of ReLU at z, elementwise: 1.0 where z > 0, else 0.0 (0 at z = 0).

    Parameters
    ----------
    z : ndarray of any shape

    Returns
    -------
    ndarray of floats (not booleans), the shape of z.
    """
    ### BEGIN SOLUTION
    return (np.asarray(z) > 0).astype(float)
    ### END SOLUTION
'''),
    test("test_relu_prime", 1, '''
"""relu_prime: 1 for z > 0, 0 otherwise, as floats (1 point)."""
from bpcourse.grading import explain

with explain("relu_prime", relu_prime):
    d = relu_prime(np.array([-2.0, 3.0]))
    assert d.shape == (2,), f"expected shape (2,), got {np.shape(d)}"
    assert np.issubdtype(d.dtype, np.floating), f"expected floats, got dtype {d.dtype}"
    assert np.allclose(d, [0.0, 1.0]), f"relu_prime([-2, 3]) should be [0, 1], got {d}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("relu_prime", relu_prime)
### END HIDDEN TESTS
'''),
    answer("tanh", '''
def tanh(z):
    """Hyperbolic tangent, elementwise.

    Parameters
    ----------
    z : ndarray of any shape

    Returns
    -------
    ndarray of floats, the shape of z, finite for every z.
    """
    ### BEGIN SOLUTION
    return np.tanh(z)
    ### END SOLUTION
'''),
    test("test_tanh", 1, '''
"""tanh: values for any shape, including saturated inputs (1 point)."""
from bpcourse.grading import explain

with explain("tanh", tanh):
    t = tanh(np.array([0.0, 1.0]))
    assert t.shape == (2,), f"expected shape (2,), got {np.shape(t)}"
    assert np.isclose(t[0], 0.0), f"tanh(0) should be 0, got {t[0]}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("tanh", tanh)
### END HIDDEN TESTS
'''),
    answer("tanh_prime", '''
def tanh_prime(z):
    """Derivative of tanh at the pre-activation z, elementwise.

    Parameters
    ----------
    z : ndarray of any shape

    Returns
    -------
    ndarray of floats, the shape of z.
    """
    ### BEGIN SOLUTION
    t = np.tanh(z)
    return 1 - t * t
    ### END SOLUTION
'''),
    test("test_tanh_prime", 1, '''
"""tanh_prime: the derivative, for any shape and saturated inputs (1 point)."""
from bpcourse.grading import explain

with explain("tanh_prime", tanh_prime):
    d = tanh_prime(np.array([0.0, 2.0]))
    assert d.shape == (2,), f"expected shape (2,), got {np.shape(d)}"
    assert np.isclose(d[0], 1.0), f"tanh_prime(0) should be 1, got {d[0]}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("tanh_prime", tanh_prime)
### END HIDDEN TESTS
'''),
    md("ps1-bce-md", r"""
## 3. Binary cross-entropy from the logits

A classifier with one sigmoid output sees a batch of $n$ examples with logits
$a_i$ (pre-activations), predicts $p_i = \sigma(a_i)$, and has targets $y_i \in [0, 1]$.
The loss of the batch is the **mean** over its examples:

$$L = \frac{1}{n}\sum_{i=1}^{n} -\big[y_i \ln \sigma(a_i) + (1 - y_i)\ln(1 - \sigma(a_i))\big].$$

Computed literally, $\sigma(1000)$ rounds to exactly 1 and $\ln(1 - 1) = -\infty$, while
the true loss for $a = 1000,\ y = 0$ is about 1000. Write the loss **from the logits**,
without ever forming $\ln(0)$ or $e^{1000}$ (chapter 3 derives a form that is exact for
every $a$). Then its gradient $\partial L / \partial a_i$: per example it is
$\sigma(a_i) - y_i$, and the mean over the batch contributes its factor.
"""),
    answer("bce_with_logits", '''
def bce_with_logits(a, y):
    """Mean binary cross-entropy of sigmoid(a) against targets y, computed from the logits.

    Parameters
    ----------
    a : ndarray of shape (n,)
        Logits (pre-activations) of the n examples of the batch.
    y : ndarray of shape (n,)
        Targets in [0, 1].

    Returns
    -------
    float, the mean over the batch; exact (and finite) even for |a| = 1000.
    """
    ### BEGIN SOLUTION
    a = np.asarray(a, dtype=float)
    # -[y ln s(a) + (1 - y) ln(1 - s(a))] = max(a, 0) - y a + ln(1 + e^-|a|)
    per_example = np.maximum(a, 0) - y * a + np.log1p(np.exp(-np.abs(a)))
    return float(np.mean(per_example))
    ### END SOLUTION
'''),
    test("test_bce_with_logits", 2, '''
"""bce_with_logits: the mean loss over the batch, moderate logits (2 points)."""
from bpcourse.grading import explain

with explain("bce_with_logits", bce_with_logits):
    loss = bce_with_logits(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
    assert np.ndim(loss) == 0, f"expected one number, got shape {np.shape(loss)}"
    assert np.isclose(loss, np.log(2)), f"with a = 0 the loss is ln 2 = 0.693..., got {loss}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("bce_with_logits", bce_with_logits)
### END HIDDEN TESTS
'''),
    test("test_bce_with_logits_stable", 1, '''
"""bce_with_logits: exact and finite for saturated logits |a| = 1000 (1 point)."""
from bpcourse.grading import explain

with explain("bce_with_logits_stable", bce_with_logits):
    loss = bce_with_logits(np.array([1000.0]), np.array([1.0]))
    assert np.isfinite(loss), f"the loss for a = 1000, y = 1 should be 0, got {loss}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("bce_with_logits_stable", bce_with_logits)
### END HIDDEN TESTS
'''),
    answer("bce_with_logits_grad", '''
def bce_with_logits_grad(a, y):
    """Gradient dL/da of bce_with_logits(a, y), the mean loss over the batch.

    Parameters
    ----------
    a : ndarray of shape (n,)
        Logits of the n examples.
    y : ndarray of shape (n,)
        Targets in [0, 1].

    Returns
    -------
    ndarray of shape (n,), finite for every a.
    """
    ### BEGIN SOLUTION
    a = np.asarray(a, dtype=float)
    return (sigmoid(a) - y) / len(a)
    ### END SOLUTION
'''),
    test("test_bce_with_logits_grad", 2, '''
"""bce_with_logits_grad: the gradient of the mean loss, any batch size (2 points)."""
from bpcourse.grading import explain

with explain("bce_with_logits_grad", bce_with_logits_grad):
    g = bce_with_logits_grad(np.array([0.0]), np.array([1.0]))
    assert np.shape(g) == (1,), f"expected shape (1,), got {np.shape(g)}"
    assert np.isclose(g[0], -0.5), f"for one example, a = 0, y = 1 it is -0.5, got {g[0]}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("bce_with_logits_grad", bce_with_logits_grad)
### END HIDDEN TESTS
'''),
]

# -- ps2 -------------------------------------------------------------------------------
ASSIGNMENTS["ps2"] = [
    md("ps2-intro", r"""
# Problem set 2: the forward pass

You will write the forward pass of a multilayer perceptron in matrix form: a dense
layer, a numerically stable softmax, and the whole network returning its output and the
cache of every layer that the backward pass (problem set 3) needs.

**Shape convention** (chapter 5): a batch is a matrix with **one example per row**.

$$A^{[0]} = X \ (n, n_0), \qquad Z^{[l]} = A^{[l-1]} W^{[l]} + b^{[l]} \ (n, n_l),
\qquad A^{[l]} = g(Z^{[l]}),$$

with $W^{[l]}$ of shape $(n_{l-1}, n_l)$ and $b^{[l]}$ of shape $(n_l,)$, added to every row.
The last layer $L$ uses softmax instead of $g$.
""" + HOW),
    code("ps2-setup", """
import numpy as np
from bpcourse.activations import relu, sigmoid, tanh  # your problem set 1, as a package
"""),
    md("ps2-dense-md", "## 1. A dense layer"),
    answer("dense_forward", '''
def dense_forward(A_prev, W, b):
    """Pre-activations of a dense layer for a batch: Z = A_prev W + b.

    Parameters
    ----------
    A_prev : ndarray of shape (n, n_in)
        Activations of the previous layer, one example per row.
    W : ndarray of shape (n_in, n_out)
    b : ndarray of shape (n_out,)

    Returns
    -------
    Z : ndarray of shape (n, n_out)
    """
    ### BEGIN SOLUTION
    return A_prev @ W + b
    ### END SOLUTION
'''),
    test("test_dense_forward", 2, '''
"""dense_forward: Z = A_prev W + b for square and non-square W, any batch size (2 points)."""
from bpcourse.grading import explain

with explain("dense_forward", dense_forward):
    Z = dense_forward(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0))
    assert Z.shape == (2, 4), f"expected shape (2, 4), got {np.shape(Z)}"
    assert np.allclose(Z[0], [3.0, 4.0, 5.0, 6.0]), f"expected rows [3, 4, 5, 6], got {Z[0]}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("dense_forward", dense_forward)
### END HIDDEN TESTS
'''),
    md("ps2-softmax-md", r"""
## 2. A stable softmax

Row $i$ of the result is $\mathrm{softmax}(z_i)_k = e^{z_{ik}} / \sum_j e^{z_{ij}}$: each
**row** (example) sums to 1. $e^{1000}$ overflows, so find a change of $z$ that leaves the
result unchanged and keeps every exponent $\le 0$. Mind the shapes when you combine a
per-row quantity with the matrix.
"""),
    answer("softmax", '''
def softmax(Z):
    """Row-wise softmax of a batch of logits.

    Parameters
    ----------
    Z : ndarray of shape (n, k)
        Logits, one example per row.

    Returns
    -------
    ndarray of shape (n, k): each row is a probability vector summing to 1,
    finite even for logits of 1000.
    """
    ### BEGIN SOLUTION
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)
    ### END SOLUTION
'''),
    test("test_softmax", 2, '''
"""softmax: row-wise probabilities for batches of any shape (2 points)."""
from bpcourse.grading import explain

with explain("softmax", softmax):
    P = softmax(np.zeros((2, 4)))
    assert P.shape == (2, 4), f"expected shape (2, 4), got {np.shape(P)}"
    assert np.allclose(P, 0.25), f"softmax of zeros should be uniform (0.25), got {P}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("softmax", softmax)
### END HIDDEN TESTS
'''),
    test("test_softmax_stable", 1, '''
"""softmax: exact and finite for large logits, and for rows far apart (1 point)."""
from bpcourse.grading import explain

with explain("softmax_stable", softmax):
    P = softmax(np.array([[1000.0, 1000.0]]))
    assert np.allclose(P, 0.5), f"softmax([[1000, 1000]]) should be [[0.5, 0.5]], got {P}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("softmax_stable", softmax)
### END HIDDEN TESTS
'''),
    md("ps2-mlp-md", r"""
## 3. The forward pass of an MLP

`params` holds `"W1", "b1", ..., "WL", "bL"`. Hidden layers use the activation `g`, the
output layer softmax. Use your `dense_forward` and `softmax`. The cache keeps every layer,
indexed by layer number: `cache["Z"] = [None, Z1, ..., ZL]` and
`cache["A"] = [X, A1, ..., AL]`.

*Grading note:* the tests of `mlp_forward` run it with the reference `dense_forward` and
`softmax`, so a bug in those costs their points only.
"""),
    answer("mlp_forward", '''
def mlp_forward(X, params, g=relu):
    """Forward pass of a batch through an MLP with hidden activation g and a softmax output.

    Parameters
    ----------
    X : ndarray of shape (n, n_0)
    params : dict
        "W1", "b1", ..., "WL", "bL" with Wl of shape (n_{l-1}, n_l) and bl of shape (n_l,).
    g : function
        Activation of the hidden layers (relu, sigmoid or tanh).

    Returns
    -------
    P : ndarray of shape (n, n_L)
        The output A[L]: one probability vector per row.
    cache : dict
        {"Z": [None, Z1, ..., ZL], "A": [X, A1, ..., AL]}.
    """
    ### BEGIN SOLUTION
    L = len(params) // 2
    Z, A = [None], [X]
    for l in range(1, L + 1):
        Zl = dense_forward(A[-1], params[f"W{l}"], params[f"b{l}"])
        Z.append(Zl)
        A.append(softmax(Zl) if l == L else g(Zl))
    return A[-1], {"Z": Z, "A": A}
    ### END SOLUTION
'''),
    test("test_mlp_forward_output", 2, '''
"""mlp_forward: the output P for 1 to 3 layers and each hidden activation (2 points)."""
from bpcourse.grading import explain

params = {"W1": np.zeros((3, 4)), "b1": np.zeros(4), "W2": np.zeros((4, 5)), "b2": np.zeros(5)}
with explain("mlp_forward_output", mlp_forward, ns=globals()):
    P, cache = mlp_forward(np.ones((2, 3)), params)
    assert np.shape(P) == (2, 5), f"expected shape (2, 5), got {np.shape(P)}"
    assert np.allclose(P, 0.2), f"zero weights give uniform probabilities 0.2, got {P}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("mlp_forward_output", mlp_forward, ns=globals())
### END HIDDEN TESTS
'''),
    test("test_mlp_forward_cache", 2, '''
"""mlp_forward: the cache of every layer, Z[l] and A[l] (2 points)."""
from bpcourse.grading import explain

params = {"W1": np.zeros((3, 4)), "b1": np.ones(4), "W2": np.zeros((4, 5)), "b2": np.zeros(5)}
with explain("mlp_forward_cache", mlp_forward, ns=globals()):
    P, cache = mlp_forward(np.ones((2, 3)), params)
    assert len(cache["Z"]) == 3 and len(cache["A"]) == 3, "expected L + 1 = 3 entries each"
    assert cache["Z"][0] is None, "cache['Z'][0] should be None (the input has no Z)"
    assert np.allclose(cache["Z"][1], 1.0), f"Z1 = X W1 + b1 = 1 here, got {cache['Z'][1]}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("mlp_forward_cache", mlp_forward, ns=globals())
### END HIDDEN TESTS
'''),
]

# -- ps3 -------------------------------------------------------------------------------
ASSIGNMENTS["ps3"] = [
    md("ps3-intro", r"""
# Problem set 3: the backward pass

You will write backpropagation in matrix form: the backward pass of a dense layer and of
each activation, the gradient of softmax + cross-entropy, then the full backward pass of
an MLP returning a dict of gradients. Before you submit, **check your gradients against
central differences** with `bpcourse.gradcheck` (the last cell shows how).

Conventions (chapter 5): `dX` means $\partial L / \partial X$ where $L$ is the **mean**
loss over the batch of $n$ examples; every gradient has the shape of the array it is the
gradient of; `Z = A_prev @ W + b` with `W` of shape `(n_in, n_out)`, one example per row.
""" + HOW),
    code("ps3-setup", '''
import numpy as np
from bpcourse.activations import relu, relu_prime, sigmoid, sigmoid_prime, softmax, tanh, tanh_prime


def mlp_forward(X, params, g=relu):
    """Forward pass (problem set 2): returns P and {"Z": [None, Z1..ZL], "A": [X, A1..AL]}."""
    L = len(params) // 2
    Z, A = [None], [X]
    for l in range(1, L + 1):
        Z.append(A[-1] @ params[f"W{l}"] + params[f"b{l}"])
        A.append(softmax(Z[-1]) if l == L else g(Z[-1]))
    return A[-1], {"Z": Z, "A": A}


def cross_entropy(P, Y):
    """Mean over the batch of -sum_k y_k ln p_k."""
    return -np.sum(Y * np.log(P)) / len(P)
'''),
    md("ps3-dense-md", r"""
## 1. Backward through a dense layer

Given $dZ = \partial L/\partial Z$ for $Z = A_{prev} W + b$, return the three gradients.
Each test cell grades one of them.
"""),
    answer("dense_backward", '''
def dense_backward(dZ, A_prev, W):
    """Gradients of a dense layer Z = A_prev W + b, given dZ = dL/dZ.

    Parameters
    ----------
    dZ : ndarray of shape (n, n_out)
    A_prev : ndarray of shape (n, n_in)
    W : ndarray of shape (n_in, n_out)

    Returns
    -------
    dA_prev : ndarray of shape (n, n_in)
    dW : ndarray of shape (n_in, n_out)
    db : ndarray of shape (n_out,)
    """
    ### BEGIN SOLUTION
    return dZ @ W.T, A_prev.T @ dZ, dZ.sum(axis=0)
    ### END SOLUTION
'''),
    test("test_dense_backward_dW", 2, '''
"""dense_backward: dW, with the shape of W (2 points)."""
from bpcourse.grading import explain

with explain("dense_backward_dW", dense_backward):
    dA_prev, dW, db = dense_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones((3, 4)))
    assert np.shape(dW) == (3, 4), f"dW must have the shape of W (3, 4), got {np.shape(dW)}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("dense_backward_dW", dense_backward)
### END HIDDEN TESTS
'''),
    test("test_dense_backward_db", 1, '''
"""dense_backward: db, with the shape of b (1 point)."""
from bpcourse.grading import explain

with explain("dense_backward_db", dense_backward):
    dA_prev, dW, db = dense_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones((3, 4)))
    assert np.shape(db) == (4,), f"db must have the shape of b (4,), got {np.shape(db)}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("dense_backward_db", dense_backward)
### END HIDDEN TESTS
'''),
    test("test_dense_backward_dA_prev", 2, '''
"""dense_backward: dA_prev, with the shape of A_prev (2 points)."""
from bpcourse.grading import explain

with explain("dense_backward_dA_prev", dense_backward):
    dA_prev, dW, db = dense_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones((3, 4)))
    assert np.shape(dA_prev) == (2, 3), f"expected A_prev's shape (2, 3), got {np.shape(dA_prev)}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("dense_backward_dA_prev", dense_backward)
### END HIDDEN TESTS
'''),
    md("ps3-act-md", r"""
## 2. Backward through the activations

For $A = g(Z)$ elementwise, return $dZ$ from $dA$ (the `*_prime` functions of problem
set 1 are imported above).
"""),
    answer("relu_backward", '''
def relu_backward(dA, Z):
    """dZ = dL/dZ for A = relu(Z), given dA = dL/dA; both of the shape of Z."""
    ### BEGIN SOLUTION
    return dA * relu_prime(Z)
    ### END SOLUTION


def sigmoid_backward(dA, Z):
    """dZ = dL/dZ for A = sigmoid(Z), given dA = dL/dA; both of the shape of Z."""
    ### BEGIN SOLUTION
    return dA * sigmoid_prime(Z)
    ### END SOLUTION


def tanh_backward(dA, Z):
    """dZ = dL/dZ for A = tanh(Z), given dA = dL/dA; both of the shape of Z."""
    ### BEGIN SOLUTION
    return dA * tanh_prime(Z)
    ### END SOLUTION
'''),
    test("test_relu_backward", 1, '''
"""relu_backward (1 point)."""
from bpcourse.grading import explain

with explain("relu_backward", relu_backward):
    dZ = relu_backward(np.array([[2.0, 2.0]]), np.array([[-1.0, 1.0]]))
    assert np.allclose(dZ, [[0.0, 2.0]]), f"expected [[0, 2]], got {dZ}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("relu_backward", relu_backward)
### END HIDDEN TESTS
'''),
    test("test_sigmoid_backward", 1, '''
"""sigmoid_backward (1 point)."""
from bpcourse.grading import explain

with explain("sigmoid_backward", sigmoid_backward):
    dZ = sigmoid_backward(np.array([[4.0]]), np.array([[0.0]]))
    assert np.allclose(dZ, 1.0), f"dA = 4 at Z = 0 gives 4 * 0.25 = 1, got {dZ}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("sigmoid_backward", sigmoid_backward)
### END HIDDEN TESTS
'''),
    test("test_tanh_backward", 1, '''
"""tanh_backward (1 point)."""
from bpcourse.grading import explain

with explain("tanh_backward", tanh_backward):
    dZ = tanh_backward(np.array([[3.0]]), np.array([[0.0]]))
    assert np.allclose(dZ, 3.0), f"dA = 3 at Z = 0 gives 3, got {dZ}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("tanh_backward", tanh_backward)
### END HIDDEN TESTS
'''),
    md("ps3-softmax-md", r"""
## 3. Softmax and cross-entropy together

With $P = \mathrm{softmax}(Z)$ row-wise and $L = -\frac{1}{n}\sum_i \sum_k y_{ik} \ln p_{ik}$
for one-hot targets $Y$, the chain rule through the softmax collapses to a simple
expression for $dZ = \partial L / \partial Z$ (chapter 5). Mind the mean.
"""),
    answer("softmax_cross_entropy_backward", '''
def softmax_cross_entropy_backward(P, Y):
    """dZ = dL/dZ of the mean cross-entropy of P = softmax(Z) against one-hot Y.

    Parameters
    ----------
    P : ndarray of shape (n, k)
        Softmax outputs, one example per row.
    Y : ndarray of shape (n, k)
        One-hot targets.

    Returns
    -------
    dZ : ndarray of shape (n, k)
    """
    ### BEGIN SOLUTION
    return (P - Y) / len(P)
    ### END SOLUTION
'''),
    test("test_softmax_cross_entropy_backward", 2, '''
"""softmax_cross_entropy_backward: dL/dZ of the mean loss, any batch size (2 points)."""
from bpcourse.grading import explain

with explain("softmax_cross_entropy_backward", softmax_cross_entropy_backward):
    dZ = softmax_cross_entropy_backward(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))
    assert np.shape(dZ) == (1, 2), f"expected shape (1, 2), got {np.shape(dZ)}"
    assert np.allclose(dZ, [[-0.5, 0.5]]), f"for one example expected [[-0.5, 0.5]], got {dZ}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("softmax_cross_entropy_backward", softmax_cross_entropy_backward)
### END HIDDEN TESTS
'''),
    md("ps3-mlp-md", r"""
## 4. The backward pass of an MLP

Walk the layers from $L$ down to 1 with the functions above, using the cache of
`mlp_forward`. Return a dict with one gradient per parameter: `"W1", "b1", ..., "WL", "bL"`.
Do not change `params`: the optimizer (problem set 4) applies the gradients.

*Grading note:* the test runs `mlp_backward` with the reference versions of the functions
above, so a bug in one of them costs its own points only.
"""),
    answer("mlp_backward", '''
def mlp_backward(Y, params, cache, g_backward=relu_backward):
    """Gradients of the mean cross-entropy of an MLP with a softmax output.

    Parameters
    ----------
    Y : ndarray of shape (n, n_L)
        One-hot targets of the batch given to mlp_forward.
    params : dict
        "W1", "b1", ..., "WL", "bL" (left unchanged).
    cache : dict
        {"Z": [None, Z1, ..., ZL], "A": [X, A1, ..., AL]} from mlp_forward.
    g_backward : function
        Backward pass of the hidden activation (relu_backward, sigmoid_backward or
        tanh_backward).

    Returns
    -------
    grads : dict
        "W1", "b1", ..., "WL", "bL", each with the shape of the parameter.
    """
    ### BEGIN SOLUTION
    L = len(params) // 2
    A, Z = cache["A"], cache["Z"]
    grads = {}
    dZ = softmax_cross_entropy_backward(A[L], Y)
    for l in range(L, 0, -1):
        dA_prev, grads[f"W{l}"], grads[f"b{l}"] = dense_backward(dZ, A[l - 1], params[f"W{l}"])
        if l > 1:
            dZ = g_backward(dA_prev, Z[l - 1])
    return grads
    ### END SOLUTION
'''),
    test("test_mlp_backward", 3, '''
"""mlp_backward: every gradient of 1- to 3-layer MLPs, each hidden activation (3 points)."""
from bpcourse.grading import explain

rng = np.random.default_rng(0)
params = {"W1": rng.standard_normal((3, 4)), "b1": np.zeros(4),
          "W2": rng.standard_normal((4, 2)), "b2": np.zeros(2)}
X, Y = rng.standard_normal((5, 3)), np.eye(2)[[0, 1, 1, 0, 1]]
with explain("mlp_backward", mlp_backward, ns=globals()):
    P, cache = mlp_forward(X, params)
    grads = mlp_backward(Y, params, cache)
    assert isinstance(grads, dict), f"expected a dict, got {type(grads).__name__}"
    assert sorted(grads) == sorted(params), f"expected keys {sorted(params)}, got {sorted(grads)}"
    for key in params:
        assert np.shape(grads[key]) == params[key].shape, (
            f"grads[{key!r}] has shape {np.shape(grads[key])}, {key} has {params[key].shape}")
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("mlp_backward", mlp_backward, ns=globals())
### END HIDDEN TESTS
'''),
    md("ps3-gradcheck-md", r"""
## 5. Check yourself: gradients against central differences

Not graded, but do it: `numerical_gradient(f, x)` perturbs each entry of `x` by
$\pm\varepsilon$ and returns $(f(x + \varepsilon) - f(x - \varepsilon)) / 2\varepsilon$.
A relative error around `1e-9` means your backward pass is right; above `1e-5`, a bug.
Try other sizes and activations too.
"""),
    scratch('''
from bpcourse.gradcheck import numerical_gradient, relative_error

rng = np.random.default_rng(1)
sizes = [5, 4, 3]
params = {}
for l in range(1, len(sizes)):
    params[f"W{l}"] = rng.standard_normal((sizes[l - 1], sizes[l]))
    params[f"b{l}"] = rng.standard_normal(sizes[l])
X, Y = rng.standard_normal((6, 5)), np.eye(3)[rng.integers(0, 3, 6)]

for g, g_backward in [(relu, relu_backward), (sigmoid, sigmoid_backward), (tanh, tanh_backward)]:
    P, cache = mlp_forward(X, params, g)
    grads = mlp_backward(Y, params, cache, g_backward)
    for key, p in params.items():
        numeric = numerical_gradient(lambda: cross_entropy(mlp_forward(X, params, g)[0], Y), p)
        print(f"{g.__name__:8s} {key}: relative error {relative_error(grads[key], numeric):.1e}")
'''),
]

# -- ps4 -------------------------------------------------------------------------------
ASSIGNMENTS["ps4"] = [
    md("ps4-intro", r"""
# Problem set 4: SGD and training

You will train a network on MNIST: the SGD update, a shuffled mini-batch iterator, the
training loop, a learning curve, and saving the trained model to JSON. The network itself
is `bpcourse.MLP` (its `forward`, `loss` and `backward` are what you wrote in problem sets
2 and 3). The training test asks for **at least 90% validation accuracy** after 3 epochs
on 10,000 MNIST images, within the time limit (a few seconds if you work on whole batches).
""" + HOW),
    code("ps4-setup", """
import json

import matplotlib.pyplot as plt
import numpy as np

import bpcourse as bp
"""),
    md("ps4-sgd-md", r"""
## 1. The SGD update

$\theta \leftarrow \theta - \eta\, \partial L/\partial\theta$ for every parameter array.
Update the arrays **in place** (the network holds them); leave the gradients unchanged.
"""),
    answer("sgd_step", '''
def sgd_step(params, grads, lr):
    """One step of gradient descent on every parameter, in place.

    Parameters
    ----------
    params : dict of ndarray
        "W1", "b1", ...; each array is updated in place.
    grads : dict of ndarray
        The gradient of the loss for each key of params, of the same shape (unchanged).
    lr : float
        Learning rate.

    Returns
    -------
    None
    """
    ### BEGIN SOLUTION
    for key, p in params.items():
        p -= lr * grads[key]
    ### END SOLUTION
'''),
    test("test_sgd_step", 2, '''
"""sgd_step: theta - lr * g for every parameter, in place (2 points)."""
from bpcourse.grading import explain

with explain("sgd_step", sgd_step):
    params = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    grads = {"W1": np.ones((2, 2)), "b1": np.ones(2)}
    sgd_step(params, grads, 0.5)
    assert np.allclose(params["W1"], 0.5), f"1 - 0.5 * 1 = 0.5, got {params['W1']}"
    assert np.allclose(params["b1"], -0.5), f"0 - 0.5 * 1 = -0.5, got {params['b1']}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("sgd_step", sgd_step)
### END HIDDEN TESTS
'''),
    md("ps4-batches-md", r"""
## 2. Shuffled mini-batches

Every epoch visits all $n$ examples once, in a new random order drawn from `rng` (a
`np.random.Generator`), in batches of `batch_size` rows; the last batch holds the rest.
`X` and `Y` must stay aligned, and must not be changed.
"""),
    answer("minibatches", '''
def minibatches(X, Y, batch_size, rng):
    """Yield the batches (Xb, Yb) of one epoch, in a random order drawn from rng.

    Parameters
    ----------
    X : ndarray of shape (n, n_in)
    Y : ndarray of shape (n, k)
    batch_size : int
    rng : np.random.Generator
        The only source of randomness.

    Yields
    ------
    Xb : ndarray of shape (batch_size, n_in), the last one possibly smaller
    Yb : ndarray of shape (batch_size, k), the targets of the rows of Xb
    """
    ### BEGIN SOLUTION
    order = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], Y[idx]
    ### END SOLUTION
'''),
    test("test_minibatches_cover", 2, '''
"""minibatches: every example exactly once, X and Y aligned, batch sizes right (2 points)."""
from bpcourse.grading import explain

with explain("minibatches_cover", minibatches):
    X, Y = np.arange(10.0).reshape(5, 2), np.eye(5)
    batches = list(minibatches(X, Y, 2, np.random.default_rng(0)))
    sizes = [len(Xb) for Xb, Yb in batches]
    assert sizes == [2, 2, 1], f"5 examples in batches of 2 give sizes [2, 2, 1], got {sizes}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("minibatches_cover", minibatches)
### END HIDDEN TESTS
'''),
    test("test_minibatches_shuffled", 1, '''
"""minibatches: a new random order every epoch, drawn from rng (1 point)."""
from bpcourse.grading import explain

with explain("minibatches_shuffled", minibatches):
    X, Y = np.arange(40.0).reshape(20, 2), np.eye(20)
    first = np.concatenate([Xb[:, 0] for Xb, Yb in minibatches(X, Y, 5, np.random.default_rng(0))])
    assert not np.array_equal(first, X[:, 0]), "the examples came in their original order"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("minibatches_shuffled", minibatches)
### END HIDDEN TESTS
'''),
    md("ps4-train-md", r"""
## 3. The training loop

For each epoch, for each batch of `minibatches(X, Y, batch_size, rng)` with
`rng = np.random.default_rng(seed)` created once: a forward pass (`P = net.forward(Xb)`),
the batch's loss (`net.loss(P, Yb)`), a backward pass (`grads = net.backward(Yb)`) and
an `sgd_step`. Record the epoch's mean training loss (over examples).

*Grading note:* the test trains a fresh `bp.MLP([784, 64, 10])` for 3 epochs with
`batch_size=32, lr=0.2, seed=0` and needs **90% accuracy** on 2,000 validation images;
it runs your `train` with the reference `sgd_step` and `minibatches`.
"""),
    answer("train", '''
def train(net, X, Y, epochs, batch_size, lr, seed=0):
    """Train net with mini-batch SGD.

    Parameters
    ----------
    net : bpcourse.MLP
        Its params are updated in place.
    X : ndarray of shape (n, n_0)
    Y : ndarray of shape (n, n_L)
        One-hot targets.
    epochs, batch_size : int
    lr : float
    seed : int
        Seeds the shuffling.

    Returns
    -------
    history : dict
        {"loss": [mean training loss of epoch 1, of epoch 2, ...]}
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    history = {"loss": []}
    for _ in range(epochs):
        total = 0.0
        for Xb, Yb in minibatches(X, Y, batch_size, rng):
            P = net.forward(Xb)
            total += net.loss(P, Yb) * len(Xb)
            sgd_step(net.params, net.backward(Yb), lr)
        history["loss"].append(total / len(X))
    return history
    ### END SOLUTION
'''),
    test("test_train", 3, '''
"""train: 3 epochs on 10,000 MNIST images reach 90% validation accuracy (3 points)."""
from bpcourse.grading import explain

with explain("train", train, ns=globals()):
    X, y = bp.datasets.linear(200)
    net = bp.MLP([2, 8, 2], seed=0)
    history = train(net, X, np.eye(2)[y], epochs=2, batch_size=16, lr=0.5)
    assert len(history["loss"]) == 2, f"expected one loss per epoch, got {history['loss']}"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("train", train, ns=globals())
### END HIDDEN TESTS
'''),
    md("ps4-curve-md", r"""
## 4. A learning curve (graded by hand, 3 points)

Train `bp.MLP([784, 64, 10], seed=0)` on the first 10,000 training images for 5 epochs
(`batch_size=32, lr=0.2`), one epoch at a time with your `train`, and after each epoch
record the training loss and the accuracy on the 10,000 validation images
(`net.accuracy(X_val, y_val)`). Plot both against the epoch.

**Rubric.** 1 point: both curves, training loss and validation accuracy, against epochs
1 to 5 (two panels, or two y-axes). 1 point: axes labelled with what they show, a title,
a legend where there are several curves. 1 point: in the next cell, two or three
sentences: does the network still improve at epoch 5, and what would you try next?
"""),
    manual("learning_curve", 2, '''
### BEGIN SOLUTION
(X_train, y_train), (X_val, y_val), _ = bp.load_mnist(progress=False)
X_small, Y_small = X_train[:10000], np.eye(10, dtype=X_train.dtype)[y_train[:10000]]
net = bp.MLP([784, 64, 10], seed=0, dtype=X_train.dtype)
losses, accs = [], []
for epoch in range(5):
    history = train(net, X_small, Y_small, epochs=1, batch_size=32, lr=0.2, seed=epoch)
    losses.append(history["loss"][0])
    accs.append(net.accuracy(X_val, y_val))
epochs = range(1, 6)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(epochs, losses, "o-", label="training loss")
ax1.set(xlabel="epoch", ylabel="mean cross-entropy", title="Training loss")
ax2.plot(epochs, accs, "o-", color="C1", label="validation accuracy")
ax2.set(xlabel="epoch", ylabel="accuracy", title="Validation accuracy")
for ax in (ax1, ax2):
    ax.legend()
fig.tight_layout()
plt.show()
### END SOLUTION
'''),
    manual("learning_curve_comment", 1, '''
The training loss still falls and the validation accuracy still rises at epoch 5, though
more slowly: more epochs would help. Next I would try a larger hidden layer or the full
50,000 training images, watching the validation accuracy for over-fitting.
''', markdown=True),
    md("ps4-save-md", r"""
## 5. Save the model to JSON

Write the network so that `bp.load_json(path)` reads it back **exactly**. The format is a
JSON object with `"format": "bpcourse-mlp"`, `"version": 1`, the architecture
(`"sizes"`, `"activation"`, `"output"`, `"loss"`, `"dtype"`: see the attributes
`net.sizes`, `net.activation`, `net.output`, `net.loss_name`, `net.dtype.name`) and
`"params"`, a dict from each name (`"W1"`, ...) to the array as nested lists.
"""),
    answer("save_model", '''
def save_model(net, path):
    """Save net as JSON at path, in the format bpcourse.load_json reads.

    Parameters
    ----------
    net : bpcourse.MLP
    path : str or pathlib.Path
    """
    ### BEGIN SOLUTION
    doc = {"format": "bpcourse-mlp", "version": 1, "sizes": net.sizes,
           "activation": net.activation, "output": net.output, "loss": net.loss_name,
           "dtype": net.dtype.name,
           "params": {key: value.tolist() for key, value in net.params.items()}}
    with open(path, "w") as f:
        json.dump(doc, f)
    ### END SOLUTION
'''),
    test("test_save_model", 2, '''
"""save_model: bpcourse.load_json reads the file back exactly (2 points)."""
from bpcourse.grading import explain

with explain("save_model", save_model):
    save_model(bp.MLP([3, 2], seed=0), "model.json")
    back = bp.load_json("model.json")
    assert back.sizes == [3, 2], f"read back sizes {back.sizes}, expected [3, 2]"
### BEGIN HIDDEN TESTS
from bpcourse.grading import record

record("save_model", save_model)
### END HIDDEN TESTS
'''),
]


def notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python"},
    }
    nb.cells = cells
    nb.nbformat, nb.nbformat_minor = 4, 4  # no cell ids: stable diffs, nbgrader-friendly
    return nb


def write(course_dir="."):
    """Write solutions/<ps>/<ps>.ipynb for every assignment; return the paths."""
    paths = []
    for name, cells in ASSIGNMENTS.items():
        path = Path(course_dir) / "solutions" / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook(cells), path)
        paths.append(path)
    return paths


def points(name):
    """Total points of an assignment, and the autograded part."""
    meta = [c.metadata["nbgrader"] for c in ASSIGNMENTS[name] if "nbgrader" in c.metadata]
    total = sum(m.get("points", 0) for m in meta if m["grade"])
    auto = sum(m.get("points", 0) for m in meta if m["grade"] and not m["solution"])
    return total, auto


if __name__ == "__main__":
    for p in write(sys.argv[1] if len(sys.argv) > 1 else "."):
        print("wrote", p)
