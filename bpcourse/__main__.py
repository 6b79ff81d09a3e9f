"""Command line: ``python -m bpcourse train|evaluate|fetch``."""

import argparse
import sys

from .io import load_json, save_json
from .mlp import INITS, MLP
from .mnist import data_home, fetch_mnist, load_mnist
from .optim import SGD
from .train import fit


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bpcourse",
                                     description="Train and evaluate MLPs on MNIST.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an MLP on MNIST and report test accuracy")
    t.add_argument("--hidden", type=int, nargs="+", default=[128],
                   help="hidden layer widths, e.g. --hidden 128 64 (default 128)")
    t.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default="relu")
    t.add_argument("--output", choices=["softmax", "sigmoid"], default="softmax")
    t.add_argument("--loss", choices=["cross_entropy", "bce", "mse"], default="cross_entropy")
    t.add_argument("--init", choices=sorted(INITS), default=None)
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--momentum", type=float, default=0.0)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--train-size", type=int, default=None,
                   help="use only the first N training images")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--save", metavar="FILE", help="save the trained model as JSON")
    t.add_argument("--no-progress", action="store_true")

    e = sub.add_parser("evaluate", help="test accuracy of a saved model")
    e.add_argument("model", help="a model file written by train --save")

    sub.add_parser("fetch", help="download and verify MNIST into the cache")

    r = sub.add_parser("record", help="the 60-second record: train for a time budget")
    r.add_argument("--budget", type=float, default=60.0, help="seconds of training")
    r.add_argument("--save", metavar="FILE", help="save the trained model as JSON")

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
        from .speedrun import train_record
        net, info = train_record(budget=args.budget)
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
              loss=args.loss, init=args.init, seed=args.seed, dtype=args.dtype)
    hist = fit(net, (Xtr, ytr), val=(Xva, yva), epochs=args.epochs, batch_size=args.batch_size,
               optimizer=SGD(lr=args.lr, momentum=args.momentum), seed=args.seed,
               progress=not args.no_progress)
    print(f"{net}\n{args.epochs} epochs, {sum(hist['seconds']):.1f} s of training; "
          f"validation accuracy {100 * hist['val_acc'][-1]:.2f}%")
    print(f"test accuracy: {100 * net.accuracy(Xte, yte):.2f}%")
    if args.save:
        print(f"model saved to {save_json(net, args.save)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
