"""Command line: ``python -m bpcourse train|evaluate|fetch|record``.

The options' choices and defaults come from the package's own tables (the activations,
losses, initialisations and float dtypes it accepts, the experiments' ``DEFAULTS`` and the
record's ``RECORD_DEFAULTS``), so the command line cannot drift from the package.
"""

import argparse
import sys

from . import activations, losses
from ._validation import FLOAT_DTYPES
from .experiments import DEFAULTS
from .io import load_json, save_json
from .mlp import INITS, MLP
from .mnist import data_home, fetch_mnist, load_mnist
from .optim import OPTIMIZERS
from .speedrun import AUGMENTS, RECORD_DEFAULTS, SCHEDULES, train_record
from .train import fit

CHOICES = {
    "activation": activations.HIDDEN,
    "output": activations.OUTPUTS,
    "loss": tuple(losses.LOSSES),
    "init": tuple(sorted(INITS)),
    "dtype": FLOAT_DTYPES,
    "schedule": SCHEDULES,
    "augment": AUGMENTS,
}
HELP = {
    "hidden": "hidden layer widths, e.g. --hidden 128 64",
    "init": "weight initialisation; default: He for ReLU, Xavier for sigmoid and tanh",
    "train_size": "use only the first N training images",
    "budget": "seconds of training",
    "augment": "shift: whole-pixel shifts here; affine: rotations, scalings and shifts made "
               "by a second process",
    "max_shift": "shift each image by up to this many pixels every epoch",
    "max_rotate": "rotate each image by up to this many degrees (augment affine)",
    "max_scale": "scale each image by a factor within 1 +- this (augment affine)",
    "threads": "BLAS threads",
    "weight_decay": "L2 penalty on the weights, not the biases",
    "dropout": "probability of dropping a hidden unit in training",
    "lr": "learning rate; default: the optimizer's own (" + ", ".join(
        f"{name} {OPTIMIZERS[name]().lr:g}" for name in OPTIMIZERS) + ")",
}
TYPES = {"lr": float}  # options whose default is None
# The experiments' options that the train command offers (all but train_on and start_from).
TRAIN_OPTIONS = ("hidden", "activation", "output", "loss", "init", "epochs", "lr", "momentum",
                 "weight_decay", "dropout", "batch_size", "train_size", "dtype", "seed")


def _add_options(parser, defaults):
    """One --option per entry of defaults: its choices from CHOICES, its type from the default."""
    for name, default in defaults.items():
        kw = {"default": default}
        if name == "hidden":
            kw.update(type=int, nargs="+", default=list(default))
        elif name in CHOICES:
            kw["choices"] = CHOICES[name]
        else:
            kw["type"] = TYPES.get(name) or (int if default is None else type(default))
        text = HELP.get(name, "")
        if default is not None:
            text = f"{text} (default %(default)s)" if text else "default %(default)s"
        kw["help"] = text
        parser.add_argument("--" + name.replace("_", "-"), **kw)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m bpcourse",
                                     description="Train and evaluate MLPs on MNIST.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an MLP on MNIST and report test accuracy")
    # No --lr: each optimizer's own default rate (Adam's 1e-3, not SGD's 0.1).
    _add_options(t, {**{k: DEFAULTS[k] for k in TRAIN_OPTIONS}, "lr": None})
    t.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="sgd",
                   help="update rule; adam takes no --momentum (default %(default)s)")
    t.add_argument("--save", metavar="FILE", help="save the trained model as JSON")
    t.add_argument("--no-progress", action="store_true")

    e = sub.add_parser("evaluate", help="test accuracy of a saved model")
    e.add_argument("model", help="a model file written by train --save")

    sub.add_parser("fetch", help="download and verify MNIST into the cache")

    r = sub.add_parser("record", help="the 60-second record: train for a time budget")
    _add_options(r, RECORD_DEFAULTS)
    r.add_argument("--save", metavar="FILE", help="save the trained model as JSON")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, FloatingPointError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run(args):
    if args.command == "fetch":
        x, _ = fetch_mnist()
        print(f"MNIST ready: {len(x)} images in {data_home()}")
        return 0
    if args.command == "record":
        config = {k: getattr(args, k) for k in RECORD_DEFAULTS}
        net, info = train_record(**{**config, "hidden": tuple(config["hidden"])})
        print(f"record: test accuracy {100 * info['test_acc']:.2f}% in {info['seconds']:.1f} s "
              f"of training ({info['epochs']:.1f} epochs)")
        if args.save:
            print(f"model saved to {save_json(net, args.save)}")
        return 0
    (Xtr, ytr), (Xva, yva), (Xte, yte) = load_mnist()
    if args.command == "evaluate":
        net = load_json(args.model)
        print(f"{net}\ntest accuracy: {100 * net.accuracy(Xte, yte):.2f}%")
        return 0
    if args.train_size:
        Xtr, ytr = Xtr[:args.train_size], ytr[:args.train_size]
    net = MLP([784, *args.hidden, 10], activation=args.activation, output=args.output,
              loss=args.loss, init=args.init, seed=args.seed, dtype=args.dtype,
              dropout=args.dropout)
    hist = fit(net, (Xtr, ytr), val=(Xva, yva), epochs=args.epochs, batch_size=args.batch_size,
               optimizer=make_optimizer(args), seed=args.seed, progress=not args.no_progress)
    print(f"{net}\n{args.epochs} epochs, {sum(hist['seconds']):.1f} s of training; "
          f"validation accuracy {100 * hist['val_acc'][-1]:.2f}%")
    print(f"test accuracy: {100 * net.accuracy(Xte, yte):.2f}%")
    if args.save:
        print(f"model saved to {save_json(net, args.save)}")
    return 0


def make_optimizer(args):
    """The optimizer the train command's options name: SGD, or Adam with its defaults' betas."""
    kw = {"weight_decay": args.weight_decay}
    if args.lr is not None:
        kw["lr"] = args.lr
    if args.optimizer == "sgd":
        kw["momentum"] = args.momentum
    elif args.momentum:
        raise ValueError(f"--momentum is an option of sgd; {args.optimizer} keeps running "
                         "means of its own (its betas)")
    return OPTIMIZERS[args.optimizer](**kw)


if __name__ == "__main__":
    sys.exit(main())
