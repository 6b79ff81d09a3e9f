"""Input validation shared by the package: clear errors instead of NumPy broadcast errors."""

import numpy as np

from .datasets import one_hot

FLOAT_DTYPES = ("float32", "float64")


def as_dtype(dtype):
    """Return np.dtype for 'float32' / 'float64', or raise naming the accepted values."""
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from err
    if dt.name not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dt.name!r}")
    return dt


def check_name(kind, name, allowed):
    """Raise ValueError unless name is one of allowed."""
    if name not in allowed:
        expected = ", ".join(map(repr, allowed))
        raise ValueError(f"unknown {kind} {name!r}: expected one of {expected}")
    return name


def check_X(X, n_in, dtype, name="X"):
    """Validate a batch of inputs: 2-D, numeric, n_in columns, finite; cast to dtype."""
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    if np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {X.dtype}")
    if X.ndim != 2:
        hint = " (for one example use X.reshape(1, -1))" if X.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D of shape (n, {n_in}), got shape {X.shape}{hint}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch: shape {X.shape}, expected at least one row")
    if X.shape[1] != n_in:
        raise ValueError(
            f"{name} has {X.shape[1]} columns but the network expects {n_in} inputs: "
            f"expected shape (n, {n_in}), got {X.shape}"
        )
    X = X.astype(dtype, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return X


def check_labels(y, n_classes, name="y"):
    """Validate integer class labels in [0, n_classes); return them as int64 1-D."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D integer labels, got shape {y.shape}")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer):
        whole = np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) \
            and np.all(y == np.round(y))
        if whole:
            y = y.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{name} has labels out of range: expected 0..{n_classes - 1}, "
            f"got min {y.min()} and max {y.max()}"
        )
    return y.astype(np.int64, copy=False)


def check_Y(Y, n, n_out, dtype, name="Y"):
    """Turn targets into an (n, n_out) float array: one-hot rows or integer labels accepted.

    With a single output (n_out == 1) integer labels 0/1 or a 1-D float vector become a column.
    """
    Y = np.asarray(Y)
    if Y.ndim == 1:
        if len(Y) != n:
            raise ValueError(f"{name} has {len(Y)} labels but the batch has {n} examples")
        if n_out == 1:
            if np.issubdtype(Y.dtype, np.integer) or Y.dtype == bool:
                check_labels(Y, 2, name)
            elif not np.issubdtype(Y.dtype, np.floating):
                raise TypeError(f"{name} must be numeric, got dtype {Y.dtype}")
            Y = Y.reshape(-1, 1)
        else:
            return one_hot(check_labels(Y, n_out, name), n_out, dtype)
    elif Y.ndim == 2:
        if Y.shape != (n, n_out):
            raise ValueError(
                f"{name} has shape {Y.shape} but the network's output has shape {(n, n_out)}: "
                f"expected one row per example and {n_out} columns (or 1-D integer labels)"
            )
        if not (np.issubdtype(Y.dtype, np.number) or Y.dtype == bool):
            raise TypeError(f"{name} must be numeric, got dtype {Y.dtype}")
    else:
        raise ValueError(f"{name} must be 1-D labels or 2-D (n, {n_out}), got shape {Y.shape}")
    Y = Y.astype(dtype, copy=False)
    if not np.isfinite(Y).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return Y


def check_distributions(Y, name="Y"):
    """Softmax + cross-entropy's gradient (P - Y) / n assumes each target row is a probability
    distribution (non-negative, summing to 1): refuse rows that are not, naming the first."""
    tol = 100 * Y.shape[1] * np.finfo(Y.dtype).eps
    bad = np.flatnonzero((np.abs(Y.sum(axis=1) - 1) > tol) | (Y < 0).any(axis=1))
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"{name} row {i} (sum {float(Y[i].sum()):.6g}, min {float(Y[i].min()):.6g}) is not a "
            f"probability distribution: softmax + cross-entropy's gradient (P - Y) / n needs "
            f"non-negative target rows summing to 1 ({len(bad)} of {len(Y)} rows are not)")
    return Y
