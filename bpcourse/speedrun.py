"""The 60-second record: the best MLP bpcourse trains on MNIST in a fixed time budget.

What it adds to plain ``fit`` (each step's gain is measured in chapter 16):

* momentum (``SGD(momentum=0.9)``),
* a cosine learning-rate schedule over the *time* budget, so the rate reaches ~0 exactly
  when the budget runs out, whatever the machine's speed,
* a wider hidden layer,
* random shifts of each digit by up to ``max_shift`` pixels every epoch (new images for
  free: a shifted 3 is still a 3).
"""

import inspect
import math
import time

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .experiments import RunCache
from .mlp import MLP
from .mnist import load_mnist
from .optim import SGD
from .train import fit

__all__ = ["RECORD_DEFAULTS", "SCHEDULES", "record_run", "shift_images", "train_record"]

_RECORDS = RunCache("record", "speedrun")


def shift_images(X, max_shift, rng):
    """Shift each 28x28 image (rows of X, (n, 784)) by a random (dy, dx) in [-s, s]^2.

    Pixels shifted in are 0 (background). Images sharing a shift are moved together, so
    the cost is a few slices, not a Python loop over images.
    """
    if max_shift == 0:
        return X
    s, side = max_shift, 2 * max_shift + 1
    imgs = X.reshape(-1, 28, 28)
    padded = np.pad(imgs, ((0, 0), (s, s), (s, s)))
    code = rng.integers(0, side * side, len(X))
    out = np.empty_like(imgs)
    for c in range(side * side):
        i = np.flatnonzero(code == c)
        dy, dx = divmod(c, side)
        out[i] = padded[i, dy:dy + 28, dx:dx + 28]
    return out.reshape(len(X), 784)


def record_run(cache=True, **config):
    """``train_record(**config)``'s info, cached on disk like the experiments' runs.

    The key covers the whole configuration (defaults filled in, so ``record_run()`` and
    ``record_run(budget=60.0)`` share an entry) and the code of this module and of
    everything it uses (``experiments.RunCache``). A cached result was measured on the
    machine that ran it first; delete ``runs_home()/record-*.json`` to measure again.
    """
    unknown = set(config) - set(RECORD_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown record option(s) {sorted(unknown)}: expected some of "
                        f"{sorted(RECORD_DEFAULTS)}")
    key = _RECORDS.key({**RECORD_DEFAULTS, **config})
    if cache and (info := _RECORDS.get(key)) is not None:
        return info
    _, info = train_record(progress=False, **config)
    if cache:
        _RECORDS.put(key, info)
    return info


def train_record(budget=60.0, hidden=(800,), lr=0.1, momentum=0.9, schedule="cosine",
                 batch_size=128, max_shift=2, seed=0, dtype="float32", threads=1,
                 progress=True):
    """Train on the 60,000 standard training images for ``budget`` seconds.

    Returns ``(net, info)`` where info has ``test_acc`` (on the standard 10,000 test
    images), ``seconds`` (training time, augmentation included, evaluation excluded),
    ``epochs`` (may be fractional), ``curve`` (seconds of training and test accuracy
    after each epoch) and the configuration.

    ``threads`` caps the BLAS threads: at these matrix sizes one thread per process was
    measured faster than two on a 2-core machine (no hand-off between cores per product),
    and far faster when anything else is running.
    """
    with threadpool_limits(limits=threads, user_api="blas"):
        return _train_record(budget, hidden, lr, momentum, schedule, batch_size, max_shift,
                             seed, dtype, progress)


# train_record's options and their defaults, read from its signature (the CLI uses them too).
RECORD_DEFAULTS = {name: p.default for name, p in inspect.signature(train_record).parameters.items()
                   if name != "progress"}
SCHEDULES = ("cosine", "constant")


def _train_record(budget, hidden, lr, momentum, schedule, batch_size, max_shift, seed, dtype,
                  progress):
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    (X, y), (Xte, yte) = load_mnist(split="standard", dtype=dtype, progress=False)
    net = MLP([784, *hidden, 10], activation="relu", output="softmax", loss="cross_entropy",
              seed=seed, dtype=dtype)
    opt = SGD(lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    n_batches = -(-len(X) // batch_size)
    state = {"spent": 0.0, "t0": 0.0, "batches": 0}

    def on_batch(net, grads, epoch, batch):
        # Time spent so far decides the learning rate and when to stop.
        state["batches"] += 1
        frac = (state["spent"] + time.perf_counter() - state["t0"]) / budget
        if schedule == "cosine":
            opt.lr = lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        return frac >= 1.0

    curve = {"seconds": [], "test_acc": []}
    bar = tqdm(total=round(budget), unit="s", desc="60-second record", disable=not progress)
    while state["spent"] < budget:
        state["t0"] = time.perf_counter()
        Xa = shift_images(X, max_shift, rng)
        fit(net, (Xa, y), epochs=1, batch_size=batch_size, optimizer=opt,
            seed=int(rng.integers(2**31)), progress=False, on_batch=on_batch)
        state["spent"] += time.perf_counter() - state["t0"]
        curve["seconds"].append(state["spent"])
        curve["test_acc"].append(net.accuracy(Xte, yte))  # outside the timed part
        bar.update(min(round(state["spent"]), round(budget)) - bar.n)
    bar.close()
    info = {"test_acc": curve["test_acc"][-1], "seconds": state["spent"], "curve": curve,
            "epochs": state["batches"] / n_batches,
            "hidden": list(hidden), "lr": lr, "momentum": momentum, "schedule": schedule,
            "batch_size": batch_size, "max_shift": max_shift, "seed": seed}
    return net, info
