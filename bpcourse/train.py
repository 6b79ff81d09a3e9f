"""The training loop: shuffled mini-batches, one optimizer step per batch, a history per epoch."""

import time

import numpy as np
from tqdm.auto import tqdm

from . import _validation
from . import threads as _threads
from .optim import SGD

__all__ = ["Diverged", "fit", "evaluate"]


class Diverged(FloatingPointError):
    """The loss became NaN or inf: raised by ``fit`` with where it happened.

    ``epoch`` and ``batch`` count from 1; ``lr`` is the optimizer's rate (None if it has
    none). A ``FloatingPointError``, so code that catches that still works.
    """

    def __init__(self, loss, epoch, batch, lr):
        self.loss, self.epoch, self.batch, self.lr = loss, epoch, batch, lr
        super().__init__(f"loss became {'NaN' if np.isnan(loss) else 'inf'} at epoch {epoch}, "
                         f"batch {batch}: try a smaller learning rate "
                         f"(lr={'?' if lr is None else lr})")


def evaluate(net, X, y, batch_size=10000):
    """Mean loss and accuracy of ``net`` on inputs X (n, n_0) with integer labels y (n,)."""
    X = _validation.check_X(X, net.sizes[0], net.dtype)
    y = _validation.check_labels(y, max(net.sizes[-1], 2))
    return _evaluate(net, X, y, batch_size)


def _evaluate(net, X, y, batch_size=10000, available=None):
    total, correct = 0.0, 0
    threads = _threads.blas_threads(net.sizes, min(batch_size, len(X)), available)
    with (_threads.limit(threads),
          np.errstate(over="ignore", invalid="ignore", divide="ignore")):
        for i in range(0, len(X), batch_size):
            P = net.forward(X[i:i + batch_size], check=False)  # checked by the caller
            yb = y[i:i + batch_size]
            total += net.loss(P, yb) * len(yb)
            correct += int(np.sum(_predicted(P) == yb))
    net.Z, net.A, net.masks = [], [], []
    return total / len(X), correct / len(X)


def _predicted(P):
    return (P[:, 0] > 0.5).astype(np.int64) if P.shape[1] == 1 else P.argmax(axis=1)


def _targets(y, n_out, dtype):
    # Integer labels -> the (n, n_out) targets the loss expects (a column for one output).
    if n_out == 1:
        return y.astype(dtype).reshape(-1, 1)
    return np.eye(n_out, dtype=dtype)[y]


def fit(net, train, val=None, epochs=10, batch_size=64, optimizer=None, seed=0,
        progress=True, on_batch=None, on_epoch=None, eval_every=1, threads=None):
    """Train ``net`` with mini-batch gradient descent.

    Parameters
    ----------
    net : MLP
        Trained with ``net.forward(X, train=True)`` (dropout on, if the net has it) and
        evaluated with ``net.forward(X)`` (dropout off).
    train : (X, y)
        Inputs (n, n_0) and integer labels (n,).
    val : (X, y) or None
        Validation data, evaluated after every epoch.
    epochs, batch_size : int
    optimizer : object with ``step(params, grads)``; default ``SGD(lr=0.1)``.
        ``bp.SGD`` or ``bp.Adam`` (``bp.optim.OPTIMIZERS`` by name), with ``weight_decay``
        for an L2 penalty on the weights.
    seed : int
        Seeds the shuffling; every epoch visits the examples in a new random order.
    progress : bool
        Show a tqdm progress bar (a widget in Jupyter, text in a terminal).
    on_batch : callable or None
        ``on_batch(net, grads, epoch, batch)`` after every optimizer step (e.g. to record
        gradient norms per layer, or to change ``optimizer.lr``); returning True stops
        training after that batch (the last epoch's metrics then cover the batches seen).
    on_epoch : callable or None
        ``on_epoch(net, hist)`` after every epoch, once ``hist`` holds that epoch (e.g. to
        add test accuracy to the history, or to keep a copy of the best parameters so far);
        returning True stops training there (early stopping).
    eval_every : int
        Evaluate ``val`` after every ``eval_every``-th epoch and after the last; the other
        epochs' ``val_loss`` and ``val_acc`` are None (for long runs whose validation curve
        is not needed epoch by epoch: an evaluation can cost more than a small epoch).
    threads : int or None
        BLAS threads for the training steps. None times the steps with one thread and with
        every thread the caller allows, keeps the faster and checks again every 2 s
        (``bpcourse.threads.Tuner``): two threads pay for large products on an idle
        machine, and cost several times what they save while another program keeps a core
        busy. Products below a million multiply-adds run on one thread untimed. Results
        then agree between runs to rounding only (the thread counts split the sums
        differently): pass a number for bit-for-bit equal runs. Evaluating ``val`` chooses
        from the size of its products. Callbacks run with the training's thread limit.

    Returns
    -------
    history : dict of lists, one entry per epoch
        ``epoch``, ``train_loss`` and ``train_acc`` (averaged over the epoch's batches),
        ``val_loss`` and ``val_acc`` (None without ``val``), ``seconds`` (training time
        of the epoch, evaluation excluded).

    Raises
    ------
    Diverged
        A ``FloatingPointError``, when the loss becomes NaN or inf; it names the epoch and
        batch, in its message and as attributes.
    """
    X, y = _unpack(train, "train")
    X = _validation.check_X(X, net.sizes[0], net.dtype, name="train X")
    y = _validation.check_labels(y, max(net.sizes[-1], 2), name="train y")
    if len(y) != len(X):
        raise ValueError(f"train X has {len(X)} rows but train y has {len(y)} labels")
    if val is not None:
        Xv, yv = _unpack(val, "val")
        Xv = _validation.check_X(Xv, net.sizes[0], net.dtype, name="val X")
        yv = _validation.check_labels(yv, max(net.sizes[-1], 2), name="val y")
        if len(yv) != len(Xv):
            raise ValueError(f"val X has {len(Xv)} rows but val y has {len(yv)} labels")
    if not (isinstance(epochs, (int, np.integer)) and epochs >= 1):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (isinstance(eval_every, (int, np.integer)) and eval_every >= 1):
        raise ValueError(f"eval_every must be a positive integer, got {eval_every!r}")
    optimizer = optimizer if optimizer is not None else SGD(lr=0.1)
    Y = _targets(y, net.sizes[-1], net.dtype)
    n = len(X)
    n_batches = -(-n // batch_size)
    rng = np.random.default_rng(seed)
    hist = {k: [] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                            "seconds")}
    bar = tqdm(total=epochs * n_batches, disable=not progress, unit="batch",
               desc=f"training {net.sizes}", leave=True)
    available = _threads.available()  # the caller's limit: never raised
    tuner = _threads.Tuner((threads,) if threads is not None else
                           _threads.training_choices(net.sizes, min(batch_size, n), available))
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            order = rng.permutation(n)
            loss_sum, correct, seen, stop = 0.0, 0, 0, False
            # Overflow is detected below from the loss, with a message that says what to do.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for b in range(n_batches):
                    tuner.begin()
                    idx = order[b * batch_size:(b + 1) * batch_size]
                    Yb = Y[idx]
                    # The data were validated once, above: no checks per batch. A training
                    # pass: with dropout, the net drops units (evaluation passes do not).
                    P = net.forward(X[idx], check=False, train=True)
                    L = net.loss(P, Yb, check=False)
                    if not np.isfinite(L):
                        raise Diverged(L, epoch, b + 1, getattr(optimizer, "lr", None))
                    grads = net.backward(Yb, check=False)
                    optimizer.step(net.params, grads)
                    tuner.end()
                    loss_sum += L * len(idx)
                    correct += int(np.sum(_predicted(P) == y[idx]))
                    seen += len(idx)
                    bar.update(1)
                    if on_batch is not None and on_batch(net, grads, epoch, b + 1) is True:
                        stop = True
                        break
            hist["seconds"].append(time.perf_counter() - t0)
            hist["epoch"].append(epoch)
            hist["train_loss"].append(loss_sum / seen)
            hist["train_acc"].append(correct / seen)
            if val is not None and (epoch % eval_every == 0 or epoch == epochs or stop):
                vl, va = _evaluate(net, Xv, yv, available=available)
            else:
                vl = va = None
            hist["val_loss"].append(vl)
            hist["val_acc"].append(va)
            post = {"loss": f"{loss_sum / seen:.4f}", "acc": f"{correct / seen:.4f}"}
            if va is not None:
                post["val_acc"] = f"{va:.4f}"
            bar.set_postfix(post, refresh=False)
            if on_epoch is not None and on_epoch(net, hist) is True:
                stop = True
            if stop:
                break
    finally:
        tuner.close()
        bar.close()
        net.Z, net.A, net.masks = [], [], []
    return hist


def _unpack(data, name):
    try:
        X, y = data
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a pair (X, y), got {type(data).__name__}") from err
    return X, y
