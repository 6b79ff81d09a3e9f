"""How many BLAS threads a matrix product of a given size should use.

OpenBLAS starts one thread per core and splits every product between them. For the small
products of mini-batch training (a batch of 64 through 784-128-10: 6.4 million
multiply-adds) the hand-off costs more than it saves, and while another program keeps a
core busy each product waits for the thread on that core: measured on two cores, an epoch
took 0.54 s with two threads against 0.13 s with one. Large products (big batches,
evaluation on 10,000 images, wide layers) do gain from two threads: up to 1.7x on an idle
machine.

So ``fit`` and ``evaluate`` choose from the size of the largest product of a pass,
``batch x n_in x n_out`` of the widest layer: below ``PARALLEL_MIN`` one thread, at or
above it every thread the caller allows. They set the limit only around their own
products, and never raise a limit the caller set: inside
``threadpoolctl.threadpool_limits(1)`` they use one thread.
"""

from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

__all__ = ["PARALLEL_MIN", "available", "blas_threads", "limit"]

# Multiply-adds in the largest product from which two threads paid on an idle 2-core machine
# (784-128-10: 16 % faster at batch 256, 33 % at 4096; 784-800-10: 16 % at batch 32).
PARALLEL_MIN = 20_000_000

_controller = None


def _blas():
    global _controller
    if _controller is None:  # found once: inspecting the loaded libraries takes ~1 ms
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def available():
    """The BLAS threads the process may use now (the largest pool's current limit)."""
    return max((p["num_threads"] for p in _blas().info()), default=1)


def blas_threads(sizes, batch_size, available_threads=None):
    """BLAS threads for a pass of ``batch_size`` rows through layer sizes ``sizes``.

    1 when the largest product, ``batch_size * max(n_in * n_out)``, is below
    ``PARALLEL_MIN``; else ``available_threads`` (default: ``available()``).
    """
    work = batch_size * max(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if work < PARALLEL_MIN:
        return 1
    return available() if available_threads is None else available_threads


@contextmanager
def limit(threads):
    """Inside the block, the BLAS pools use ``threads`` threads; restored after."""
    with _blas().limit(limits=threads):
        yield
