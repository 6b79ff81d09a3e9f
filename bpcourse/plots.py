"""Plots used by the book: learning curves, decision boundaries, digits, confusion matrices.

Each function draws on ``ax`` (a new figure if None) and returns the axes.
"""

import numpy as np

__all__ = ["confusion_matrix", "plot_confusion_matrix", "plot_decision_boundary",
           "plot_history", "plot_probabilities", "show_digits"]


def _axes(ax, figsize=(5, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_history(hist, metric="loss", ax=None, label=None):
    """Learning curve of ``fit``'s history: train and (if present) validation per epoch."""
    ax = _axes(ax)
    prefix = f"{label}: " if label else ""
    ax.plot(hist["epoch"], hist[f"train_{metric}"], marker=".", label=f"{prefix}train")
    if any(v is not None for v in hist[f"val_{metric}"]):
        ax.plot(hist["epoch"], hist[f"val_{metric}"], marker=".", label=f"{prefix}validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend()
    return ax


def plot_decision_boundary(net, X, y, ax=None, resolution=200, margin=0.25):
    """Scatter 2-D points coloured by label over the network's predicted class regions."""
    ax = _axes(ax, (4, 4))
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    P = net.forward(np.c_[g0.ravel(), g1.ravel()])
    score = P[:, 0] if P.shape[1] == 1 else P.argmax(axis=1)
    ax.contourf(g0, g1, score.reshape(g0.shape), levels=20, cmap="RdBu_r", alpha=0.35)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=20)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def show_digits(X, y=None, pred=None, n=20, cols=10, fig=None):
    """A grid of MNIST digits with their labels (and predictions, red when wrong)."""
    import matplotlib.pyplot as plt
    n = min(n, len(X))
    rows = -(-n // cols)
    fig = fig or plt.figure(figsize=(cols * 0.9, rows * 1.05))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(np.asarray(X[i]).reshape(28, 28), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        if y is not None:
            title = f"{y[i]}" if pred is None else f"{y[i]}→{pred[i]}"
            wrong = pred is not None and pred[i] != y[i]
            ax.set_title(title, fontsize=9, color="C3" if wrong else "k")
    return fig


def confusion_matrix(y_true, y_pred, n_classes=10):
    """C[i, j] = number of examples of class i predicted as class j."""
    C = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(C, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return C


def plot_confusion_matrix(C, ax=None):
    """Heat map of a confusion matrix with counts written in the cells."""
    ax = _axes(ax, (5, 5))
    ax.imshow(C, cmap="Blues")
    for (i, j), c in np.ndenumerate(C):
        ax.text(j, i, str(c), ha="center", va="center", fontsize=7,
                color="white" if c > C.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(len(C)))
    ax.set_yticks(range(len(C)))
    return ax


def plot_probabilities(p, label=None, ax=None):
    """Bar chart of one example's class probabilities (the true class highlighted)."""
    ax = _axes(ax, (4, 2.5))
    colors = ["C2" if k == label else "C0" for k in range(len(p))]
    ax.bar(range(len(p)), p, color=colors)
    ax.set_xticks(range(len(p)))
    ax.set_ylim(0, 1)
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    return ax
