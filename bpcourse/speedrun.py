"""The 60-second record: the best MLP bpcourse trains on MNIST in a fixed time budget.

What it adds to plain ``fit`` (each step's gain is measured in chapter 16):

* momentum (``SGD(momentum=0.9)``),
* a cosine learning-rate schedule over the *time* budget, so the rate reaches ~0 exactly
  when the budget runs out, whatever the machine's speed,
* a wider hidden layer,
* random shifts of each digit by up to ``max_shift`` pixels every epoch (new images for
  free: a shifted 3 is still a 3),
* or, with ``augment="affine"``, random rotations, scalings and sub-pixel shifts of every
  digit (``distort_images``), made by a second process on the other core while this one
  trains: the two cores work at once, and the distortions cost the training no time.
"""

import inspect
import json
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .experiments import RunCache, python_child
from .mlp import MLP
from .mnist import load_mnist
from .optim import SGD
from .train import fit

__all__ = ["AUGMENTS", "RECORD_DEFAULTS", "SCHEDULES", "distort_images", "record_run",
           "shift_images", "train_record"]

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


def distort_images(X, rng, max_shift=2.0, max_rotate=10.0, max_scale=0.1, out=None):
    """A random affine distortion of each 28x28 image (rows of X, (n, 784)).

    Each image is rotated by an angle in [-max_rotate, max_rotate] degrees, scaled by a
    factor in [1 - max_scale, 1 + max_scale] and shifted by up to ``max_shift`` pixels
    (not only whole ones) along each axis, about its centre, with bilinear interpolation;
    pixels from outside the frame are 0. With all three 0 the images are returned unchanged.
    Writes into ``out`` if given. Works in chunks of 512 images, whose temporaries stay in
    the cache (1.4 s for 60,000 images here, against 2.7 s in one piece).
    """
    out = np.empty_like(X) if out is None else out
    g = np.arange(28, dtype=X.dtype) - X.dtype.type(13.5)
    py, px = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))  # output pixels, centred
    for s in range(0, len(X), 512):
        m = min(len(X), s + 512) - s
        theta = np.deg2rad(rng.uniform(-max_rotate, max_rotate, m)).astype(X.dtype)
        scale = rng.uniform(1 - max_scale, 1 + max_scale, m).astype(X.dtype)
        ty, tx = rng.uniform(-max_shift, max_shift, (2, m)).astype(X.dtype)
        # Where each output pixel comes from: the inverse map, rotate by -theta, scale by 1/s.
        cos, sin = (np.cos(theta) / scale)[:, None], (np.sin(theta) / scale)[:, None]
        qy, qx = py - ty[:, None], px - tx[:, None]
        sy = np.clip(cos * qy - sin * qx + 14.5, 0, 28.999)  # +1: the zero border below
        sx = np.clip(sin * qy + cos * qx + 14.5, 0, 28.999)
        y0, x0 = sy.astype(np.int32), sx.astype(np.int32)
        wy, wx = sy - y0, sx - x0
        padded = np.zeros((m, 30, 31), X.dtype)  # a zero border, and a column to spare
        padded[:, 1:29, 1:29] = X[s:s + m].reshape(m, 28, 28)
        flat = padded.ravel()
        i = y0 * 31 + x0 + (np.arange(m, dtype=np.int32) * 930)[:, None]
        a, b = np.take(flat, i), np.take(flat, i + 1)
        c, d = np.take(flat, i + 31), np.take(flat, i + 32)
        top, bottom = a + wx * (b - a), c + wx * (d - c)
        out[s:s + m] = top + wy * (bottom - top)
    return out


class _Distorter:
    """A second process that distorts the next epoch's images while this one trains.

    Two buffers in shared memory (files in /dev/shm): while an epoch trains on one, the
    other process fills the other, then says "ready". It loads MNIST itself, and is told
    only where the buffers are, the seed and the distortion's ranges.
    """

    def __init__(self, shape, dtype, seed, **ranges):
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.dir = tempfile.TemporaryDirectory(prefix="bpcourse-record-", dir=shm)
        self.buffers = [np.lib.format.open_memmap(Path(self.dir.name) / f"{k}.npy", "w+",
                                                  dtype, shape) for k in (0, 1)]
        self.proc = python_child("from bpcourse.speedrun import _distort_loop; _distort_loop()")
        self._send({"dir": self.dir.name, "dtype": dtype, "seed": seed, **ranges})
        self._send(0)
        self._send(1)  # fill both buffers
        self.next = 0
        # Its "ready" lines, read by a thread, so that a wait can end with the budget.
        self.ready = queue.Queue()
        threading.Thread(target=lambda: [self.ready.put(line) for line in self.proc.stdout],
                         daemon=True).start()

    def _send(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def take(self, timeout):
        """The next distorted epoch, valid until ``release``; None if it is not ready within
        ``timeout`` seconds."""
        try:
            line = self.ready.get(timeout=max(timeout, 0))
        except queue.Empty:
            if self.proc.poll() is None:
                return None
            line = ""
        if json.loads(line or "null") != self.next:
            raise RuntimeError(f"the distorting process stopped (exit code {self.proc.poll()})")
        return self.buffers[self.next % 2]

    def release(self):
        """Done with the epoch ``take`` returned: its buffer may be filled again."""
        self._send(self.next + 2)
        self.next += 1

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.buffers = None
        self.dir.cleanup()


def _distort_loop():
    """The distorting process (see ``_Distorter``): fill buffer k % 2 for each k it is sent."""
    job = json.loads(sys.stdin.readline())
    (X, _), _ = load_mnist(split="standard", dtype=job["dtype"], progress=False)
    buffers = [np.load(Path(job["dir"]) / f"{k}.npy", mmap_mode="r+") for k in (0, 1)]
    rng = np.random.default_rng([job["seed"], 1])  # not the trainer's stream
    for line in sys.stdin:
        k = json.loads(line)
        distort_images(X, rng, job["max_shift"], job["max_rotate"], job["max_scale"],
                       out=buffers[k % 2])
        sys.stdout.write(f"{k}\n")
        sys.stdout.flush()


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
                 batch_size=128, augment="affine", max_shift=2, max_rotate=10.0, max_scale=0.1,
                 seed=0, dtype="float32", threads=1, progress=True):
    """Train on the 60,000 standard training images for ``budget`` seconds.

    Returns ``(net, info)`` where info has ``test_acc`` (on the standard 10,000 test
    images), ``seconds`` (training time, augmentation included, evaluation excluded),
    ``epochs`` (may be fractional), ``curve`` (seconds of training and test accuracy
    after each epoch) and the configuration.

    ``augment``: ``"shift"`` moves each image by whole pixels (up to ``max_shift``) in this
    process, before each epoch; ``"affine"`` has a second process distort every image
    (``distort_images`` with ``max_shift``, ``max_rotate``, ``max_scale``) for the next
    epoch while this one trains, so the first epoch sees the images as they are.

    ``threads`` caps the BLAS threads of the training: one, since with ``"affine"`` the
    other core is distorting, and a thread that waits for a busy core costs several times
    what it saves (``bpcourse.threads``). None lets ``fit`` choose.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
    with threadpool_limits(limits=threads, user_api="blas"):
        return _train_record(budget, hidden, lr, momentum, schedule, batch_size, augment,
                             {"max_shift": max_shift, "max_rotate": max_rotate,
                              "max_scale": max_scale}, seed, dtype, progress)


# train_record's options and their defaults, read from its signature (the CLI uses them too).
RECORD_DEFAULTS = {name: p.default for name, p in inspect.signature(train_record).parameters.items()
                   if name != "progress"}
SCHEDULES = ("cosine", "constant")
AUGMENTS = ("shift", "affine")


def _train_record(budget, hidden, lr, momentum, schedule, batch_size, augment, ranges, seed,
                  dtype, progress):
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    (X, y), (Xte, yte) = load_mnist(split="standard", dtype=dtype, progress=False)
    net = MLP([784, *hidden, 10], activation="relu", output="softmax", loss="cross_entropy",
              seed=seed, dtype=dtype)
    opt = SGD(lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    n_batches = -(-len(X) // batch_size)
    state = {"spent": 0.0, "t0": 0.0, "batches": 0, "waited": 0.0}

    def on_batch(net, grads, epoch, batch):
        # Time spent so far decides the learning rate and when to stop.
        state["batches"] += 1
        frac = (state["spent"] + time.perf_counter() - state["t0"]) / budget
        if schedule == "cosine":
            opt.lr = lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        return frac >= 1.0

    curve = {"seconds": [], "test_acc": []}
    bar = tqdm(total=round(budget), unit="s", desc="60-second record", disable=not progress)
    distorter = None
    try:
        while state["spent"] < budget:
            state["t0"] = time.perf_counter()
            if augment == "shift":
                Xa = shift_images(X, ranges["max_shift"], rng)
            elif distorter is None:  # started with the clock; the first epoch is undistorted
                distorter = _Distorter(X.shape, dtype, seed, **ranges)
                Xa = X
            else:
                t = time.perf_counter()
                Xa = distorter.take(timeout=budget - state["spent"])
                state["waited"] += time.perf_counter() - t
                if Xa is None:  # the budget ran out while waiting
                    state["spent"] += time.perf_counter() - state["t0"]
                    break
            fit(net, (Xa, y), epochs=1, batch_size=batch_size, optimizer=opt,
                seed=int(rng.integers(2**31)), progress=False, on_batch=on_batch)
            if Xa is not X and augment == "affine":
                distorter.release()
            state["spent"] += time.perf_counter() - state["t0"]
            curve["seconds"].append(state["spent"])
            curve["test_acc"].append(net.accuracy(Xte, yte))  # outside the timed part
            bar.update(min(round(state["spent"]), round(budget)) - bar.n)
    finally:
        bar.close()
        if distorter is not None:
            distorter.close()
    # waited: training time spent waiting for the distorting process (counted in seconds).
    info = {"test_acc": curve["test_acc"][-1], "seconds": state["spent"], "curve": curve,
            "waited": state["waited"],
            "epochs": state["batches"] / n_batches,
            "hidden": list(hidden), "lr": lr, "momentum": momentum, "schedule": schedule,
            "batch_size": batch_size, "augment": augment, **ranges, "seed": seed}
    return net, info
