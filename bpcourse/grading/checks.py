"""Checks called by the assignments' test cells, with messages that teach.

There is one ``check_<name>(fn)`` per behaviour of the contract (``contract.py``). Each
compares a student's function with the reference on seeded random inputs of several
shapes, edge cases and saturated inputs. When it fails it raises ``CheckFailed`` (an
``AssertionError``) saying what is wrong and, when it recognises a common mistake, naming
it (as a field and in the message), without giving the answer away.

``run(name, fn, ns)`` is how everything else calls a check: with the notebook's
``globals()`` as ``ns``, the helpers the contract lists for the behaviour (``softmax``
inside ``mlp_forward``...) are the reference ones while it runs, so a bug in one helper
costs that helper's points only.
"""

import contextlib
import copy
import hashlib
import hmac
import json
import math
import os
import tempfile
import threading
import time

import numpy as np

from . import reference as ref
from .contract import BEHAVIOURS, MISTAKES
from .kernel import CheckFailed, Swap

__all__ = ["CHECKS", "CheckFailed", "isolated", "keyed", "run", "saying"]

# -- inputs drawn at grading time --------------------------------------------------------
# Every check draws its inputs from seeded generators. Outside grading the seeds are the
# public numbers written below (a student's own run, the tests); while the grader runs a
# check under ``keyed(key)``, each seed is derived from the course's secret key and the
# behaviour's name, so the inputs exist nowhere before the check sends them, and the same
# submission graded twice with the same key meets the same inputs.
_local = threading.local()


@contextlib.contextmanager
def _within(name, value):
    """Within the block (in this thread), ``_local.<name>`` is ``value``."""
    old = getattr(_local, name, None)
    setattr(_local, name, value)
    try:
        yield
    finally:
        setattr(_local, name, old)


def keyed(key):
    """Within the block (in this thread), checks draw their inputs from ``key``."""
    return _within("key", key)


def _seed(n):
    key = getattr(_local, "key", None)
    if not key:
        return n
    msg = f"{getattr(_local, 'behaviour', '')}:{n}".encode()
    return int.from_bytes(hmac.new(str(key).encode(), msg, hashlib.sha256).digest()[:16], "big")


def _rng(n):
    return np.random.default_rng(_seed(n))


def saying(out):
    """Within the block (in this thread), what the checks say goes to ``out``."""
    return _within("say", out)


def _say(text):
    # Printed, not returned: nbgrader would take a number output as a partial score.
    out = getattr(_local, "say", None)
    print(text, file=out) if out is not None else print(text)



TOL = {"rtol": 1e-6, "atol": 1e-10}


def _fmt_shape(x):
    return str(np.shape(x))


def _fail(what, msg, mistake=None, outcome="failed"):
    __tracebackhide__ = True
    text = f"{what}: {msg}"
    if mistake:
        text += "\n" + MISTAKES[mistake]
    raise CheckFailed(text, mistake, outcome)


def _not_written(what):
    __tracebackhide__ = True
    _fail(what, "not written yet (it still raises NotImplementedError).",
          outcome="not_written")


def isolated(name, ns):
    """Within the block, ns holds the reference for each helper behaviour ``name`` isolates."""
    return Swap(ns, {h: getattr(ref, h) for h in BEHAVIOURS[name].isolates})


def _copy(x):
    return copy.deepcopy(x)


def _same(a, b):
    # Exact equality of nested inputs (arrays, dicts, lists, numbers).
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return (isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b, strict=True)))
    try:
        return a is b or bool(a == b)
    except Exception:  # objects that cannot be compared are not blamed
        return True


def _call(what, fn, *args, check_inplace=True):
    """Call fn(*args); turn its exceptions into teaching messages; detect in-place edits."""
    __tracebackhide__ = True
    if not callable(fn):
        _fail(what, f"expected a function, got {type(fn).__name__}")
    saved = [_copy(a) for a in args] if check_inplace else []
    try:
        with np.errstate(all="ignore"):
            out = fn(*args)
    except NotImplementedError:
        _not_written(what)
    except CheckFailed:
        raise
    except Exception as err:  # report the student's error with the shapes involved
        shapes = ", ".join(_fmt_shape(a) if isinstance(a, np.ndarray) else type(a).__name__
                           for a in args)
        msg = f"raised {type(err).__name__}: {err}\n(called with arguments of shape {shapes})"
        mistake = None
        if isinstance(err, ValueError) and ("broadcast" in str(err) or "matmul" in str(err)
                                            or "shapes" in str(err)):
            mistake = "broadcasting" if "broadcast" in str(err) else "transposed_weights"
        _fail(what, msg, mistake)
    if check_inplace:
        for a, s in zip(args, saved, strict=True):
            if not _same(a, s):
                _fail(what, "the input of shape " + _fmt_shape(a) + " was changed.", "in_place")
    return out


def _ratio_mistake(got, exp, n):
    """Name the mistake when got = c * exp for a telling constant c, else None."""
    e2 = float(np.sum(exp * exp))
    if e2 == 0:
        return None
    c = float(np.sum(got * exp)) / e2
    if not np.allclose(got, c * exp, rtol=1e-6, atol=1e-12):
        return None
    if math.isclose(c, -1, rel_tol=1e-6):
        return "sign_error"
    if n > 1 and math.isclose(abs(c), n, rel_tol=1e-6):
        return "missing_1_over_n" if c > 0 else "sign_error"
    if n > 1 and math.isclose(abs(c), 1 / n, rel_tol=1e-6):
        return "doubled_1_over_n" if c > 0 else "sign_error"
    return None


def _compare(what, got, exp, *, n=1, variants=(), allow_scalar=False):
    """Compare a result with the expected array; name recognised mistakes."""
    __tracebackhide__ = True
    exp = np.asarray(exp, dtype=float)
    if got is None:
        _fail(what, "returned None: did you forget the return statement?")
    if allow_scalar and np.ndim(got) == 0:
        try:
            got = float(got)
        except (TypeError, ValueError):
            _fail(what, f"expected a number, got {type(got).__name__}")
    try:
        g = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        _fail(what, f"expected a NumPy array of numbers, got {type(got).__name__}")
    if g.shape != exp.shape:
        if g.shape == exp.T.shape and g.ndim == 2 and np.allclose(g.T, exp, **TOL):
            _fail(what, f"expected shape {exp.shape}, got {g.shape}.", "transposed_result")
        for name, cand in variants:
            if np.shape(cand) == g.shape and np.allclose(g, cand, **TOL):
                _fail(what, f"expected shape {exp.shape}, got {g.shape}.", name)
        try:
            ok = np.broadcast_shapes(g.shape, exp.shape) == exp.shape
        except ValueError:
            ok = False
        _fail(what, f"expected shape {exp.shape}, got {g.shape}.",
              "broadcasting" if ok and g.size > 0 else None)
    if np.isfinite(exp).all() and not np.isfinite(g).all():
        bad = int(np.size(g) - np.isfinite(g).sum())
        _fail(what, f"{bad} value(s) are nan or inf where the right result is finite.",
              "overflow")
    if np.allclose(g, exp, **TOL):
        return
    for name, cand in variants:
        if np.shape(cand) == g.shape and np.allclose(g, cand, **TOL):
            _fail(what, "wrong values.", name)
    mistake = _ratio_mistake(g, exp, n)
    err = float(np.linalg.norm(g - exp) / (np.linalg.norm(g) + np.linalg.norm(exp) + 1e-300))
    _fail(what, f"wrong values (relative error {err:.2e}; input shape {exp.shape}).", mistake)


def _check_dtype(what, got, want="float"):
    __tracebackhide__ = True
    dt = np.asarray(got).dtype
    if want == "float" and not np.issubdtype(dt, np.floating):
        _fail(what, f"expected floating-point values, got dtype {dt} "
                    "(convert with .astype(float) or arithmetic on floats)")


# -- ps1 -------------------------------------------------------------------------------
def _among(rng, edge, scale):
    """The edge values where mistakes show, in an order and among values drawn from rng:
    the same edge cases every time, never the same array twice across keys."""
    return rng.permutation(np.concatenate([edge, scale * rng.standard_normal(3)]))


def _zs(seed=0):
    """Pre-activations of several shapes, with exact zeros and saturated values."""
    rng = _rng(seed)
    return [
        rng.standard_normal(7),
        3 * rng.standard_normal((4, 5)),
        rng.standard_normal((2, 3, 2)),
        _among(rng, [-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0], 5)[None, :],
        _among(rng, [0.0, -0.0, 1e-12, -1e-12], 1e-6),
    ]


def _check_elementwise(name, fn, reference, variants=()):
    __tracebackhide__ = True
    for z in _zs():
        got = _call(f"{name}(z) for z of shape {z.shape}", fn, z)
        _check_dtype(name, got)
        _compare(f"{name}(z) for z of shape {z.shape}", got, reference(z),
                 variants=[(m, f(z)) for m, f in variants])


def check_sigmoid(fn):
    """sigmoid: values for several shapes, 0, and saturated inputs (|z| = 1000)."""
    __tracebackhide__ = True
    _check_elementwise("sigmoid", fn, ref.sigmoid, [("sign_error", lambda z: ref.sigmoid(-z))])


def check_sigmoid_prime(fn):
    """sigmoid_prime: sigma(z)(1 - sigma(z)), finite everywhere."""
    __tracebackhide__ = True
    _check_elementwise("sigmoid_prime", fn, ref.sigmoid_prime, [
        ("sigmoid_itself", ref.sigmoid),
        ("activation_as_input", lambda z: z * (1 - z)),
        ("sign_error", lambda z: -ref.sigmoid_prime(z)),
    ])


def check_relu(fn):
    """relu: max(z, 0), input untouched."""
    __tracebackhide__ = True
    _check_elementwise("relu", fn, ref.relu)


def check_relu_prime(fn):
    """relu_prime: 1 where z > 0, else 0 (0 at the kink)."""
    __tracebackhide__ = True
    for z in _zs():
        what = f"relu_prime(z) for z of shape {z.shape}"
        got = _call(what, fn, z)
        _check_dtype("relu_prime", got)
        g = np.asarray(got, dtype=float)
        if g.shape == z.shape and np.array_equal(g, (z >= 0).astype(float)) and (z == 0).any():
            _fail(what, "at z = 0 you return 1. This course takes the derivative of ReLU at "
                        "the kink to be 0 (any value in [0, 1] is a valid subgradient; we fix "
                        "one so results are comparable).")
        _compare(what, got, ref.relu_prime(z), variants=[("activation_as_input", ref.relu(z))])


def check_tanh(fn):
    """tanh: values, saturated inputs."""
    __tracebackhide__ = True
    _check_elementwise("tanh", fn, ref.tanh)


def check_tanh_prime(fn):
    """tanh_prime: 1 - tanh(z)^2."""
    __tracebackhide__ = True
    _check_elementwise("tanh_prime", fn, ref.tanh_prime, [
        ("activation_as_input", lambda z: 1 - z * z),
        ("sign_error", lambda z: -ref.tanh_prime(z)),
    ])


def _bce_cases(seed=0, saturated=False):
    rng = _rng(seed)
    if saturated:  # logits on the wrong side by hundreds, in an order drawn from rng
        cases = []
        for a, y in [([1000.0, -1000.0, 800.0, -800.0], [0.0, 1.0, 1.0, 0.0]),
                     ([50.0, -50.0, 0.0], [0.0, 1.0, 1.0])]:
            order = rng.permutation(len(a))
            shift = rng.uniform(0, 20) * np.sign(a)  # further out, never back in
            cases.append((np.array(a)[order] + shift[order], np.array(y)[order]))
        return cases
    cases = []
    for n in (1, 5, 32):
        a = 2 * rng.standard_normal(n)
        y = (rng.random(n) < 0.5).astype(float)
        cases.append((a, y))
    cases.append((np.array([0.3, -1.2, 2.0]), np.array([0.2, 0.9, 0.5])))  # soft labels
    return cases


def _check_bce_loss(fn, saturated):
    __tracebackhide__ = True
    for a, y in _bce_cases(saturated=saturated):
        what = f"bce_with_logits(a, y) for a = {np.array2string(a, precision=1)}" if saturated \
            else f"bce_with_logits(a, y) for a batch of n = {len(a)}"
        got = _call(what, fn, a, y)
        if np.ndim(got) != 0:
            _fail(what, f"expected one number (the mean loss over the batch), got an array of "
                        f"shape {np.shape(got)}", "broadcasting" if np.size(got) == 1 else None)
        exp = ref.bce_with_logits(a, y)
        n = len(a)
        variants = [] if saturated else [("missing_1_over_n", exp * n),
                                         ("doubled_1_over_n", exp / n)]
        if saturated and np.isfinite(float(got)) and not np.isclose(float(got), exp, **TOL):
            _fail(what, f"the loss is {float(got):.4g}; for a logit of size 1000 on the wrong "
                        "side the loss grows with the logit and is about that size. A "
                        "probability computed first and clipped or rounded to 0 or 1 loses it.",
                  "overflow")
        _compare(what, got, exp, n=1, variants=variants, allow_scalar=True)


def check_bce_with_logits(fn):
    """bce_with_logits: the mean loss over the batch, for moderate logits."""
    __tracebackhide__ = True
    _check_bce_loss(fn, saturated=False)


def check_bce_with_logits_stable(fn):
    """bce_with_logits: exact for saturated logits |a| = 1000, no inf or nan."""
    __tracebackhide__ = True
    _check_bce_loss(fn, saturated=True)


def check_bce_with_logits_grad(fn):
    """bce_with_logits_grad: (sigma(a) - y) / n, moderate and saturated logits."""
    __tracebackhide__ = True
    for a, y in _bce_cases() + _bce_cases(saturated=True):
        what = f"bce_with_logits_grad(a, y) for a batch of n = {len(a)}"
        got = _call(what, fn, a, y)
        _compare(what, got, ref.bce_with_logits_grad(a, y), n=len(a))


# -- ps2 -------------------------------------------------------------------------------
def check_dense_forward(fn):
    """dense_forward: Z = A_prev @ W + b for square and non-square W and several batches."""
    __tracebackhide__ = True
    rng = _rng(1)
    for n, n_in, n_out in [(3, 4, 4), (5, 3, 4), (1, 6, 2), (8, 2, 7)]:
        A, W, b = (rng.standard_normal((n, n_in)), rng.standard_normal((n_in, n_out)),
                   rng.standard_normal(n_out))
        what = f"dense_forward with A_prev {A.shape}, W {W.shape}, b {b.shape}"
        got = _call(what, fn, A, W, b)
        variants = [("transposed_weights", A @ W.T + b)] if n_in == n_out else []
        if np.shape(got) == (n, n_out) and np.allclose(np.asarray(got, dtype=float), A @ W, **TOL):
            _fail(what, "wrong values: the bias b is not added.")
        _compare(what, got, ref.dense_forward(A, W, b), variants=variants)


def _softmax_cases(seed=2):
    rng = _rng(seed)
    return [
        rng.standard_normal((4, 3)),
        2 * rng.standard_normal((3, 3)),
        rng.standard_normal((1, 5)),
        rng.standard_normal((6, 2)) + np.array([[0.0], [5.0], [-3.0], [0.0], [1.0], [2.0]]),
    ]


def check_softmax(fn):
    """softmax: row-wise probabilities for batches of several shapes (rows sum to 1)."""
    __tracebackhide__ = True
    for Z in _softmax_cases():
        what = f"softmax(Z) for Z of shape {Z.shape}"
        got = _call(what, fn, Z)
        with np.errstate(all="ignore"):
            E = np.exp(Z - Z.max())
        # Without keepdims a square batch divides column j by row j's sum.
        variants = [("broadcasting", E / E.sum(axis=1))] if Z.shape[0] == Z.shape[1] else []
        g = np.asarray(got, dtype=float) if got is not None else None
        if g is not None and g.shape == Z.shape and np.isfinite(g).all() \
                and np.allclose(g.sum(axis=0), 1) and not np.allclose(g.sum(axis=1), 1):
            _fail(what, "each column sums to 1, but each ROW is one example and must sum to 1.")
        if g is not None and g.shape == Z.shape and np.isfinite(g).all() \
                and np.isclose(g.sum(), 1) and Z.shape[0] > 1:
            _fail(what, "the whole batch sums to 1; each row (one example) must sum to 1.")
        _compare(what, got, ref.softmax(Z), variants=variants)


def check_softmax_stable(fn):
    """softmax: finite and exact for large logits, and for rows hundreds apart in a batch."""
    __tracebackhide__ = True
    rng = _rng(10)
    for z in ([1000.0, 999.0, 0.0], [-1000.0, -1001.0, -999.0], [710.0, 710.0], [0.0, 800.0],
              [-800.0, -801.0, -805.0]):
        # Large logits, shifted and ordered by rng: as large, never the same twice.
        Z = rng.permutation(np.array(z) + np.sign(np.sum(z)) * rng.uniform(0, 10))[None, :]
        what = f"softmax(Z) for Z = {Z.tolist()}"
        got = _call(what, fn, Z)
        _compare(what, got, ref.softmax(Z))
    # Rows far apart in one batch. Shapes are the other cell's business: this case runs
    # only for a softmax that gets a moderate two-row batch right.
    moderate = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    with np.errstate(all="ignore"):
        try:
            ok = np.allclose(np.asarray(fn(moderate.copy()), dtype=float), ref.softmax(moderate))
        except Exception:
            ok = False
    if ok:
        Z = np.array([[1.0, 2.0, 3.0], [-800.0, -801.0, -805.0]])
        what = f"softmax(Z) for Z = {Z.tolist()}"
        got = _call(what, fn, Z)
        g = np.asarray(got, dtype=float)
        if g.shape == Z.shape and not np.isfinite(g).all():
            _fail(what, "rows far below the batch's largest logit become 0/0 = nan: one "
                        "shift for the whole batch is not enough when rows differ by "
                        "hundreds. Each row (example) needs its own shift.")
        _compare(what, got, ref.softmax(Z))


def _mlp_cases(seed=3):
    rng = _rng(seed)
    cases = []
    for sizes, n, g in [([4, 3], 5, ref.relu), ([5, 4, 3], 6, ref.relu),
                        ([3, 6, 4, 2], 2, ref.tanh), ([6, 5, 3], 1, ref.sigmoid)]:
        cases.append((rng.standard_normal((n, sizes[0])), ref.random_params(sizes, rng), g))
    return cases


def _mlp_forward_result(fn, X, params, g):
    __tracebackhide__ = True
    L = ref.n_layers(params)
    what = (f"mlp_forward with X {X.shape}, {L} layer(s), hidden activation "
            f"{ref.G_NAMES[g]}")
    out = _call(what, fn, X, params, g)
    if not (isinstance(out, tuple) and len(out) == 2):
        _fail(what, f"expected a pair (P, cache), got {type(out).__name__}"
              + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    return what, out


def check_mlp_forward_output(fn):
    """mlp_forward: the output P = A[L] for 1 to 3 layers and each hidden activation."""
    __tracebackhide__ = True
    for X, params, g in _mlp_cases():
        what, (P, _) = _mlp_forward_result(fn, X, params, g)
        P_ref, _ = ref.mlp_forward(X, params, g)
        _compare(what + ", output P", P, P_ref)


def check_mlp_forward_cache(fn):
    """mlp_forward: the cache {"Z": [None, Z1..ZL], "A": [X, A1..AL]} of every layer."""
    __tracebackhide__ = True
    for X, params, g in _mlp_cases():
        what, (_, cache) = _mlp_forward_result(fn, X, params, g)
        _, exp = ref.mlp_forward(X, params, g)
        L = ref.n_layers(params)
        if not isinstance(cache, dict) or not {"Z", "A"} <= set(cache):
            _fail(what, 'the cache must be a dict with keys "Z" and "A".')
        for key in ("Z", "A"):
            lst = cache[key]
            if not isinstance(lst, (list, tuple)) or len(lst) != L + 1:
                _fail(what, f'cache["{key}"] must be a list of L + 1 = {L + 1} entries '
                            f'(index l for layer l, with A[0] = X and Z[0] = None), got '
                            f'{len(lst) if isinstance(lst, (list, tuple)) else type(lst).__name__}')
            for l in range(1 if key == "Z" else 0, L + 1):
                _compare(f'{what}, cache["{key}"][{l}]', lst[l], exp[key][l])


# -- ps3 -------------------------------------------------------------------------------
def _dense_backward_cases(seed=4):
    rng = _rng(seed)
    out = []
    for n, n_in, n_out in [(4, 3, 3), (5, 3, 4), (1, 2, 6), (7, 6, 2)]:
        out.append((rng.standard_normal((n, n_out)) / n, rng.standard_normal((n, n_in)),
                    rng.standard_normal((n_in, n_out))))
    return out


def _check_dense_backward(fn, part):
    __tracebackhide__ = True
    idx = {"dA_prev": 0, "dW": 1, "db": 2}[part]
    for dZ, A, W in _dense_backward_cases():
        n = len(dZ)
        what = f"dense_backward with dZ {dZ.shape}, A_prev {A.shape}, W {W.shape}: {part}"
        out = _call(what, fn, dZ, A, W)
        if not (isinstance(out, (tuple, list)) and len(out) == 3):
            _fail(what, f"expected a tuple (dA_prev, dW, db), got {type(out).__name__}")
        got, exp = out[idx], ref.dense_backward(dZ, A, W)[idx]
        if part == "dW":
            variants = [("transposed_weights", dZ.T @ A), ("doubled_1_over_n", A.T @ dZ / n),
                        ("missing_1_over_n", A.T @ dZ * n)]
        elif part == "db":
            variants = [("bias_not_summed", dZ), ("bias_averaged", dZ.mean(axis=0)),
                        ("broadcasting", dZ.sum(axis=0, keepdims=True))]
            if n > 1 and np.shape(got) == (n,):
                _fail(what, f"expected shape {exp.shape}, got {np.shape(got)}: the sum runs "
                            "over the wrong axis (over the outputs, not over the batch).",
                      "bias_not_summed")
        else:
            variants = [("doubled_1_over_n", dZ @ W.T / n)]
            if W.shape[0] == W.shape[1]:
                variants.append(("transposed_weights", dZ @ W))
        _compare(what, got, exp, n=n, variants=variants)


def check_dense_backward_dW(fn):
    """dense_backward: dW = dL/dW, the shape of W."""
    __tracebackhide__ = True
    _check_dense_backward(fn, "dW")


def check_dense_backward_db(fn):
    """dense_backward: db = dL/db, the shape of b."""
    __tracebackhide__ = True
    _check_dense_backward(fn, "db")


def check_dense_backward_dA_prev(fn):
    """dense_backward: dA_prev = dL/dA_prev, the shape of A_prev."""
    __tracebackhide__ = True
    _check_dense_backward(fn, "dA_prev")


def _check_activation_backward(name, fn, reference, variants):
    __tracebackhide__ = True
    rng = _rng(5)
    for shape in [(4, 3), (1, 5), (6, 2)]:
        dA, Z = rng.standard_normal(shape), 2 * rng.standard_normal(shape)
        Z[0, 0] = 0.0
        Z[-1, -1] = 1000.0 if name != "relu" else -3.0
        what = f"{name}_backward with dA and Z of shape {shape}"
        got = _call(what, fn, dA, Z)
        _compare(what, got, reference(dA, Z), variants=[(m, f(dA, Z)) for m, f in variants])


def check_relu_backward(fn):
    """relu_backward: dZ = dA * relu'(Z)."""
    __tracebackhide__ = True
    _check_activation_backward("relu", fn, ref.relu_backward, [])


def check_sigmoid_backward(fn):
    """sigmoid_backward: dZ = dA * sigmoid'(Z)."""
    __tracebackhide__ = True
    _check_activation_backward("sigmoid", fn, ref.sigmoid_backward, [
        ("sigmoid_itself", lambda dA, Z: dA * ref.sigmoid(Z)),
        ("activation_as_input", lambda dA, Z: dA * Z * (1 - Z))])


def check_tanh_backward(fn):
    """tanh_backward: dZ = dA * tanh'(Z)."""
    __tracebackhide__ = True
    _check_activation_backward("tanh", fn, ref.tanh_backward, [
        ("activation_as_input", lambda dA, Z: dA * (1 - Z * Z))])


def check_softmax_cross_entropy_backward(fn):
    """softmax_cross_entropy_backward: dZ = dL/dZ of the mean cross-entropy."""
    __tracebackhide__ = True
    rng = _rng(6)
    for n, k in [(4, 3), (1, 5), (10, 10), (7, 2)]:
        P = ref.softmax(rng.standard_normal((n, k)))
        Y = np.eye(k)[rng.integers(0, k, n)]
        what = f"softmax_cross_entropy_backward with P and Y of shape {(n, k)}"
        got = _call(what, fn, P, Y)
        if np.shape(got) == (n, k) and np.allclose(np.asarray(got, dtype=float),
                                                   -Y / P / n, **TOL):
            _fail(what, "you returned dL/dP, the gradient with respect to the probabilities. "
                        "This function must return dL/dZ, through the softmax.")
        _compare(what, got, ref.softmax_cross_entropy_backward(P, Y), n=n)


def check_mlp_backward(fn):
    """mlp_backward: every gradient of a 1- to 3-layer MLP equals bpcourse's backward pass."""
    __tracebackhide__ = True
    rng = _rng(7)
    for X, params, g in _mlp_cases():
        name = ref.G_NAMES[g]
        k = params[f"W{ref.n_layers(params)}"].shape[1]
        Y = np.eye(k)[rng.integers(0, k, len(X))]
        _, cache = ref.mlp_forward(X, params, g)
        L = ref.n_layers(params)
        what = f"mlp_backward with X {X.shape}, {L} layer(s), hidden activation {name}"
        grads = _call(what, fn, Y, params, cache, ref.BACKWARDS[name])
        exp = ref.mlp_backward(Y, params, cache, ref.BACKWARDS[name])
        if not isinstance(grads, dict):
            _fail(what, f"expected a dict of gradients, got {type(grads).__name__}")
        if set(grads) != set(exp):
            _fail(what, f"expected the keys {sorted(exp)} (one gradient per parameter), got "
                        f"{sorted(grads)}")
        n = len(X)
        for key in exp:
            p = params[key]
            variants = []
            if key.startswith("W"):
                variants.append(("transposed_weights", exp[key].T))
            else:
                variants.append(("bias_averaged", exp[key] / n))
            _compare(f"{what}: grads['{key}'] (shape of {key}: {p.shape})", grads[key],
                     exp[key], n=n, variants=variants)


# -- ps4 -------------------------------------------------------------------------------
def check_sgd_step(fn):
    """sgd_step: theta <- theta - lr * g for every parameter, in place; grads untouched."""
    __tracebackhide__ = True
    rng = _rng(8)
    for sizes, lr in [([3, 2], 0.1), ([4, 5, 3], 0.5), ([2, 2, 2, 2], 1e-3)]:
        params = ref.random_params(sizes, rng)
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        before = {k: v.copy() for k, v in params.items()}
        arrays = dict(params)  # the objects themselves: an update in place keeps them
        what = f"sgd_step with lr = {lr} on layers {sizes}"
        with np.errstate(all="ignore"):
            saved = _copy(grads)
            try:
                fn(params, grads, lr)
            except NotImplementedError:
                _not_written(what)
            except Exception as err:
                _fail(what, f"raised {type(err).__name__}: {err}")
        if not _same(grads, saved):
            _fail(what, "the gradients were changed.", "in_place")
        if all(np.array_equal(params[k], before[k]) for k in params):
            _fail(what, "the parameters did not change. Rebinding a loop variable "
                        "(p = p - ...) does not change the array in the dict: update the "
                        "arrays themselves in place.")
        new = sorted(k for k in arrays if params.get(k) is not arrays[k])
        if new:
            _fail(what, f"params[{new[0]!r}] is a new array after the step, not the one "
                        "the dict held.", "rebound")
        for k in params:
            exp = before[k] - lr * grads[k]
            _compare(f"{what}: params['{k}'] after the step", params[k], exp, variants=[
                ("sign_error", before[k] + lr * grads[k])])


def _batches(what, fn, X, Y, bs, rng):
    __tracebackhide__ = True
    saved = X.copy(), Y.copy()
    gen = _call(what, fn, X, Y, bs, rng, check_inplace=False)
    try:
        # Copies: a generator that hands out views of a buffer it later overwrites would
        # otherwise look right.
        batches = [(np.array(a), np.array(b)) for a, b in gen]
    except NotImplementedError:
        _not_written(what)
    except Exception as err:
        _fail(what, f"iterating over the batches raised {type(err).__name__}: {err}")
    if not (np.array_equal(X, saved[0]) and np.array_equal(Y, saved[1])):
        _fail(what, "X or Y was reordered or changed.", "in_place")
    return batches


def _minibatch_data(n, seed=9):
    X = np.arange(n * 3, dtype=float).reshape(n, 3)
    Y = np.eye(4)[np.arange(n) % 4]
    return X, Y


def check_minibatches_cover(fn):
    """minibatches: every example exactly once per epoch, X and Y aligned, sizes right."""
    __tracebackhide__ = True
    for n, bs in [(10, 3), (12, 4), (5, 8), (1, 1)]:
        X, Y = _minibatch_data(n)
        what = f"minibatches with {n} examples and batch_size {bs}"
        batches = _batches(what, fn, X, Y, bs, _rng(0))
        sizes = [len(b[0]) for b in batches]
        want = [bs] * (n // bs) + ([n % bs] if n % bs else [])
        if sum(sizes) == bs * (n // bs) and n % bs:
            _fail(what, f"the batches hold {sum(sizes)} examples: the last, smaller batch of "
                        f"{n % bs} example(s) is dropped. Every example must be used.")
        if sizes != want:
            _fail(what, f"batch sizes {sizes}, expected {want} (full batches, then the rest)")
        Xc = np.concatenate([b[0] for b in batches])
        Yc = np.concatenate([b[1] for b in batches])
        rows = Xc[:, 0] / 3
        if sorted(rows.tolist()) != list(range(n)):
            _fail(what, "some examples appear twice and others never: each epoch must use "
                        "every example exactly once (a permutation, not random draws).")
        if not np.array_equal(Yc, Y[rows.astype(int)]):
            _fail(what, "X and Y are no longer aligned: a batch pairs an input with another "
                        "example's label. Shuffle both with the same permutation.")


def check_minibatches_shuffled(fn):
    """minibatches: a new random order each epoch, drawn from the rng given."""
    __tracebackhide__ = True
    X, Y = _minibatch_data(50)
    what = "minibatches with 50 examples and batch_size 10"

    def order(rng):
        return np.concatenate([b[0][:, 0] / 3 for b in _batches(what, fn, X, Y, 10, rng)])

    rng = _rng(0)
    first, second = order(rng), order(rng)
    if np.array_equal(first, np.arange(50)):
        _fail(what, "the examples come in their original order: shuffle them every epoch.")
    if np.array_equal(first, second):
        _fail(what, "two epochs with the same rng gave the same order: draw a new "
                    "permutation on each call, from the rng argument.")
    if not np.array_equal(order(_rng(0)), first):
        _fail(what, "the same seed gave a different order: use the rng argument for all "
                    "randomness (not np.random or a new generator).")


TRAIN_TARGET = 0.90  # validation accuracy the training check asks for


def _mnist_subset():
    """10,000 training and 2,000 validation images, disguised by rng: the pixels in
    another order and the classes renamed, the same for both. Learning works as well on
    them, but a network trained beforehand (weights looked up, not learned) fails."""
    from ..mnist import load_mnist

    (X, y), (Xv, yv), _ = load_mnist(progress=False)
    rng = _rng(11)
    pixels, classes = rng.permutation(X.shape[1]), rng.permutation(10)
    return ((X[:10000][:, pixels], classes[y[:10000]]),
            (Xv[:2000][:, pixels], classes[yv[:2000]]))


def check_train(fn, epochs=3, budget=60.0):
    """train: 3 epochs on 10,000 MNIST images reach the stated validation accuracy."""
    __tracebackhide__ = True
    from ..mlp import MLP

    (X, y), (Xv, yv) = _mnist_subset()
    Y = np.eye(10, dtype=X.dtype)[y]
    net = MLP([784, 64, 10], activation="relu", output="softmax", loss="cross_entropy",
              seed=_seed(0), dtype=X.dtype)
    w0 = net.params["W1"].copy()
    what = f"train on 10,000 MNIST images for {epochs} epochs (batch_size 32, lr 0.2)"
    t0 = time.perf_counter()
    hist = _call(what, fn, net, X, Y, epochs, 32, 0.2, 0, check_inplace=False)
    # When the function runs in the student's kernel, the duration measured there counts.
    seconds = getattr(fn, "elapsed", None)
    if not isinstance(seconds, float):
        seconds = time.perf_counter() - t0
    if np.array_equal(net.params["W1"], w0):
        _fail(what, "the network's parameters did not change: train must update net.params.")
    if not isinstance(hist, dict) or "loss" not in hist:
        _fail(what, 'expected a history dict with a "loss" list, got '
                    f"{type(hist).__name__}")
    losses = [float(v) for v in hist["loss"]]
    if len(losses) != epochs:
        _fail(what, f'history["loss"] has {len(losses)} entries, expected one per epoch '
                    f"({epochs})")
    if not all(np.isfinite(losses)):
        _fail(what, f"the loss became nan or inf: {losses}")
    acc = net.accuracy(Xv, yv)
    if acc < TRAIN_TARGET:
        _fail(what, f"validation accuracy {acc:.3f} is below the target {TRAIN_TARGET}. Does "
                    "every batch get one forward pass, one backward pass and one update, in "
                    "that order, for every epoch?")
    if not losses[-1] < losses[0]:
        _fail(what, f"the mean training loss did not decrease over the epochs: {losses}")
    if seconds > budget:
        _fail(what, f"training took {seconds:.0f} s, more than the {budget:.0f} s allowed: "
                    "work on whole batches with matrix products, not example by example.")
    _say(f"validation accuracy {acc:.3f} (target {TRAIN_TARGET}), {seconds:.1f} s")


def check_save_model(fn):
    """save_model: a JSON file that bpcourse.load_json reads back bit for bit."""
    __tracebackhide__ = True
    from ..io import load_json
    from ..mlp import MLP

    for sizes, act, dtype in [([4, 3, 2], "relu", "float64"), ([5, 2], "tanh", "float32"),
                              ([3, 4, 4, 3], "sigmoid", "float64")]:
        net = MLP(sizes, activation=act, output="softmax", loss="cross_entropy", seed=_seed(1),
                  dtype=dtype)
        what = f"save_model for MLP({sizes}, activation={act!r}, dtype={dtype!r})"
        saved = {k: v.copy() for k, v in net.params.items()}  # the network as it was
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.json")
            _call(what, fn, net, path, check_inplace=False)
            if not _same(net.params, saved):
                _fail(what, "saving changed the network's parameters.", "in_place")
            if not os.path.exists(path):
                _fail(what, "no file was written at the path given.")
            try:
                json.loads(open(path).read())
            except ValueError as err:
                _fail(what, f"the file is not valid JSON: {err}")
            try:
                back = load_json(path)
            except ValueError as err:
                _fail(what, f"bpcourse.load_json cannot read the file: {err}")
        if back.sizes != net.sizes or back.activation != net.activation:
            _fail(what, f"read back as {back!r}: the architecture was not saved faithfully.")
        for k, v in saved.items():
            if not np.array_equal(back.params[k].astype(v.dtype), v):
                _fail(what, f"parameter {k!r} does not read back exactly: write every value "
                            "with full precision (a float's repr round-trips exactly).")


CHECKS = {name: globals()[f"check_{name}"] for name in BEHAVIOURS}


def run(name, fn, ns=None):
    """Run the check of behaviour ``name`` on fn; raise CheckFailed if it fails.

    With ``ns`` (the notebook's ``globals()``), the helpers the contract lists for this
    behaviour are the reference ones while the check runs, then the student's again.
    """
    __tracebackhide__ = True
    with _within("behaviour", name), isolated(name, ns):
        CHECKS[name](fn)
