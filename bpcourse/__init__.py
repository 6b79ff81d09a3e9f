"""bpcourse: backpropagation from scratch in NumPy, the reference package of the course.

    import bpcourse as bp
    net = bp.MLP([784, 128, 10], activation="relu", output="softmax", loss="cross_entropy")
    hist = bp.fit(net, (X, y), val=(Xv, yv), epochs=5, optimizer=bp.SGD(lr=0.1))

The experiment layer (``bp.experiments``, the cached sweeps of chapters 10-15, and
``bp.speedrun``, the 60-second record of chapter 16) is imported on first use, so importing
the core (``bpcourse.activations``, ``bp.MLP``...) never loads it. So is ``bp.autodiff``,
the scalar reverse-mode autodiff (``Value``), which the matrix code does not need.
"""

import importlib

from . import activations, datasets, losses, plots
from .datasets import one_hot
from .gradcheck import gradcheck, numerical_gradient, relative_error
from .io import load_json, save_json
from .mlp import MLP
from .mnist import load_mnist
from .optim import SGD, Adam
from .train import evaluate, fit

__version__ = "0.1.0"

# Loaded by their first use (``bp.experiments``...): the experiment layer, built on the core and
# never imported by it, and the autodiff module, which stands beside the core.
_LAZY = ("autodiff", "experiments", "speedrun")

__all__ = [
    "MLP",
    "SGD",
    "Adam",
    "activations",
    "autodiff",
    "datasets",
    "evaluate",
    "experiments",
    "fit",
    "gradcheck",
    "load_json",
    "load_mnist",
    "losses",
    "numerical_gradient",
    "one_hot",
    "plots",
    "relative_error",
    "save_json",
    "speedrun",
]


def __getattr__(name):  # PEP 562: called only for names the module does not have yet
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)  # also sets the attribute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})
