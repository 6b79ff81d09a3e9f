"""bpcourse: backpropagation from scratch in NumPy, the reference package of the course.

    import bpcourse as bp
    net = bp.MLP([784, 128, 10], activation="relu", output="softmax", loss="cross_entropy")
    hist = bp.fit(net, (X, y), val=(Xv, yv), epochs=5, optimizer=bp.SGD(lr=0.1))
"""

from . import activations, datasets, experiments, losses, plots
from .datasets import one_hot
from .gradcheck import gradcheck, numerical_gradient, relative_error
from .io import load_json, save_json
from .mlp import MLP
from .mnist import load_mnist
from .optim import SGD
from .train import evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "SGD",
    "activations",
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
]
