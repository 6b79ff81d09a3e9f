"""How many BLAS threads the matrix products of training and evaluation should use.

OpenBLAS starts one thread per core and splits every product between them. Whether that pays
depends on the size of the products, on the machine and on what else runs on it: for the
small products of mini-batch training (a batch of 64 through 784-128-10: 6.4 million
multiply-adds) two threads were 4 % faster than one on an idle two-core machine one day and
30 % faster on another, and while another program keeps a core busy each product waits for
the thread on that core: an epoch took 0.54 s with two threads against 0.13 s with one.

So ``fit`` does not guess: a ``Tuner`` times its steps with one thread and with every thread
the caller allows, keeps the faster, and times them again every ``RETRIAL_SECONDS`` (the
load changes). Products below ``SERIAL_MAX`` run on one thread untimed (OpenBLAS splits
none of them). Evaluation is one pass with nothing to time: ``blas_threads`` chooses from
the size of its largest product (every allowed thread from ``PARALLEL_MIN``). Both set
the limit only while they run (restoring it after) and never raise a limit the caller set:
inside ``threadpoolctl.threadpool_limits(1)`` they use one thread.

Threads split the arithmetic differently, so results agree between thread counts only to
rounding (about 1e-7 in float32 weights after an epoch): for bit-for-bit equal runs, fix
the count (``fit(threads=1)``).
"""

import time
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

__all__ = ["PARALLEL_MIN", "RETRIAL_SECONDS", "SERIAL_MAX", "Tuner", "available",
           "blas_threads", "limit", "largest_product", "training_choices"]

# Multiply-adds in the largest product from which two threads paid on an idle 2-core machine
# (784-128-10: 16 % faster at batch 256, 33 % at 4096; 784-800-10: 16 % at batch 32).
PARALLEL_MIN = 20_000_000
# Below this many multiply-adds OpenBLAS runs a product on one thread whatever its limit.
SERIAL_MAX = 1_000_000
# A trial times each thread count for at least TRIAL_SECONDS and TRIAL_STEPS steps (after
# one untimed step that wakes the threads): long enough to span several of the scheduler's
# time slices, since under load a few steps can all fall where both threads happen to run.
# The mean step time decides, as it is what a run pays. Then the choice runs for
# RETRIAL_SECONDS before the next trial (the load changes).
TRIAL_SECONDS = 0.05
TRIAL_STEPS = 3
RETRIAL_SECONDS = 2.0

_controller = None


def _blas():
    global _controller
    if _controller is None:  # found once: inspecting the loaded libraries takes ~1 ms
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def available():
    """The BLAS threads the process may use now (the largest pool's current limit)."""
    return max((p["num_threads"] for p in _blas().info()), default=1)


def largest_product(sizes, batch_size):
    """Multiply-adds of the largest product of a pass: ``batch_size * max(n_in * n_out)``."""
    return batch_size * max(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def blas_threads(sizes, batch_size, available_threads=None):
    """BLAS threads for a pass of ``batch_size`` rows through layer sizes ``sizes``.

    1 when the largest product, ``batch_size * max(n_in * n_out)``, is below
    ``PARALLEL_MIN``; else ``available_threads`` (default: ``available()``).
    """
    if largest_product(sizes, batch_size) < PARALLEL_MIN:
        return 1
    return available() if available_threads is None else available_threads


def training_choices(sizes, batch_size, available_threads):
    """The thread counts a ``Tuner`` times for training steps of ``batch_size`` rows:
    ``(1, available_threads)``, or ``(1,)`` alone when only one thread is allowed or the
    largest product is below ``SERIAL_MAX``."""
    if available_threads > 1 and largest_product(sizes, batch_size) >= SERIAL_MAX:
        return (1, available_threads)
    return (1,)


@contextmanager
def limit(threads):
    """Inside the block, the BLAS pools use ``threads`` threads; restored after."""
    with _blas().limit(limits=threads):
        yield


class Tuner:
    """BLAS threads for a loop of like steps, chosen by timing the steps.

    ``choices``: the thread counts to try, e.g. ``(1, 2)``. Call ``begin()`` before each step
    and ``end()`` after it; between the two the pools use the current choice. A trial runs
    each choice for one untimed step, then for ``TRIAL_SECONDS`` and ``TRIAL_STEPS`` steps
    at least, and keeps the one of the smallest mean step time; a new trial starts
    ``RETRIAL_SECONDS`` after. Time outside the steps (evaluation, callbacks between them)
    is not counted. ``close()`` restores the limits the caller had. ``steps`` counts the
    steps run with each choice.
    """

    def __init__(self, choices):
        self.choices = tuple(dict.fromkeys(choices))
        self.steps = dict.fromkeys(self.choices, 0)
        self._original = _blas().limit(limits=self.choices[0])
        self._current = self.choices[0]
        self._mean = {}           # choice -> mean step seconds in the running trial
        self._next_trial = time.perf_counter() if len(self.choices) > 1 else None
        self._trial = []
        self._t0 = 0.0

    def _use(self, threads):
        if threads != self._current:
            _blas().limit(limits=threads)
            self._current = threads

    def _start_choice(self):
        self._use(self._trial[0])
        self._timed, self._seconds = -1, 0.0  # -1: the first step is not timed

    def begin(self):
        if self._next_trial is not None and time.perf_counter() >= self._next_trial:
            self._trial, self._mean, self._next_trial = list(self.choices), {}, None
            self._start_choice()
        self._t0 = time.perf_counter()

    def end(self):
        t1 = time.perf_counter()
        self.steps[self._current] += 1
        if not self._trial:
            return
        if self._timed >= 0:
            self._seconds += t1 - self._t0
        self._timed += 1
        if self._timed >= TRIAL_STEPS and self._seconds >= TRIAL_SECONDS:
            self._mean[self._current] = self._seconds / self._timed
            self._trial.pop(0)
            if self._trial:
                self._start_choice()
            else:
                self._use(min(self._mean, key=self._mean.get))
                self._next_trial = t1 + RETRIAL_SECONDS

    def close(self):
        self._original.restore_original_limits()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
