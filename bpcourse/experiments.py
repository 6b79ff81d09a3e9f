"""Sweeps over training configurations, cached on disk, returned as a tidy table.

A configuration is a dict; unspecified keys take ``DEFAULTS``. ``sweep`` runs every
configuration (x every seed), reusing finished runs from the cache, and returns a
``Table`` with one row per run: the configuration, final metrics, per-epoch histories
and seconds per epoch. See chapters 10-16.

    rows = sweep(grid(activation=["sigmoid", "relu"], hidden=[(50,), (150,)]),
                 base={"epochs": 5}, seeds=[0, 1])
    rows.summary(by=["activation", "hidden"], metric="test_acc")
"""

import ast
import atexit
import functools
import hashlib
import html
import importlib.util
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise, product
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from . import mnist, threads, train
from .io import load_json
from .mlp import MLP
from .optim import OPTIMIZERS

__all__ = ["DEFAULTS", "ReportStep", "RunCache", "Table", "code_hash", "grid", "run",
           "runs_home", "source_hash", "sweep"]

DEFAULTS = {
    "hidden": (128,),          # hidden layer widths
    "activation": "relu",
    "output": "softmax",
    "loss": "cross_entropy",
    "init": None,              # None: He for ReLU, Xavier for sigmoid/tanh
    "optimizer": "sgd",        # "sgd" (bp.SGD: lr, momentum) or "adam" (bp.Adam: lr)
    "lr": 0.1,
    "momentum": 0.0,           # SGD only
    "weight_decay": 0.0,       # L2 on the weights (not the biases): grad + weight_decay * W
    "dropout": 0.0,            # probability of dropping a hidden unit in training
    "patience": None,          # early stopping: stop after this many evaluations without a
                               # better validation accuracy, and keep the best epoch's parameters
    "grad": "mean",            # "mean": the batch's mean gradient; "sum": n times it
    "bias": True,              # False: biases start at 0 and are never updated
    "batch_size": 64,
    "epochs": 10,
    "eval_every": 1,           # validation and test accuracy after every k-th epoch and the
                               # last (None in the history elsewhere): for long runs whose
                               # curve is not needed epoch by epoch
    "train_size": None,        # None: all 50,000 training images; N: the first N
    "train_on": "train",       # "train", or "train+val" (validation images appended)
    "start_from": None,        # path of a saved JSON model to continue from
    "dtype": "float32",
    "seed": 0,
}


def runs_home():
    """Where finished runs are cached: ``$BPCOURSE_RUNS``, else ``<data_home>/runs``."""
    return Path(os.environ.get("BPCOURSE_RUNS") or mnist.data_home() / "runs")


def grid(**axes):
    """All combinations of the given values: grid(lr=[0.1, 0.01], batch_size=[64]) -> 2 dicts."""
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in product(*axes.values())]


def _normalise(config):
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown configuration key(s) {sorted(unknown)}: expected some of "
                         f"{sorted(DEFAULTS)}")
    c = {**DEFAULTS, **config}
    c["hidden"] = tuple(int(h) for h in c["hidden"])
    if c["train_on"] not in ("train", "train+val"):
        raise ValueError(f"train_on must be 'train' or 'train+val', got {c['train_on']!r}")
    if c["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {c['optimizer']!r}")
    if c["optimizer"] != "sgd" and c["momentum"]:
        raise ValueError(f"momentum is SGD's; got momentum={c['momentum']!r} with "
                         f"optimizer={c['optimizer']!r}")
    if c["grad"] not in ("mean", "sum"):
        raise ValueError(f"grad must be 'mean' or 'sum', got {c['grad']!r}")
    if not isinstance(c["bias"], bool):
        raise ValueError(f"bias must be True or False, got {c['bias']!r}")
    if not (isinstance(c["eval_every"], int) and c["eval_every"] >= 1):
        raise ValueError(f"eval_every must be a whole number >= 1, got {c['eval_every']!r}")
    if c["patience"] is not None and not (isinstance(c["patience"], int) and c["patience"] >= 1):
        raise ValueError(f"patience must be None or a whole number >= 1, got {c['patience']!r}")
    return c


class ReportStep:
    """An optimizer's step as some reports take it: on the summed gradient, or without biases.

    ``MLP.backward`` returns the gradient of the batch's *mean* loss. With ``grad="sum"``
    each step uses the gradient of the summed loss instead, ``n`` times larger for a batch
    of ``n`` examples (for plain SGD the same as a learning rate ``n`` times larger, except
    on a last, smaller batch). With ``bias=False`` the biases get zero gradients, so biases
    that start at 0 stay 0: a network without biases. ``optimizer.step`` does the rest.

        opt = ReportStep(net, bp.SGD(lr=0.5), grad="sum", bias=False)
        bp.fit(net, data, optimizer=opt)
    """

    def __init__(self, net, optimizer, grad="mean", bias=True):
        if grad not in ("mean", "sum"):
            raise ValueError(f"grad must be 'mean' or 'sum', got {grad!r}")
        self.net, self.optimizer, self.grad, self.bias = net, optimizer, grad, bool(bias)
        if not self.bias:
            for p in net.params.values():
                if p.ndim == 1:
                    p[...] = 0

    @property
    def lr(self):
        return self.optimizer.lr

    def __repr__(self):
        return f"ReportStep({self.optimizer!r}, grad={self.grad!r}, bias={self.bias})"

    def step(self, params, grads):
        """Scale (sum) and mask (no biases) ``grads``, then take the optimizer's step."""
        n = len(self.net.A[0])  # the batch of the last forward pass, which made grads
        grads = {k: (np.zeros_like(g) if not self.bias and g.ndim == 1
                     else g * g.dtype.type(n) if self.grad == "sum" else g)
                 for k, g in grads.items()}
        self.optimizer.step(params, grads)


def source_hash(source):
    """SHA-256 of a module's code: its syntax tree without docstrings (comments never reach it).

    Editing a docstring or a comment keeps the hash; editing code changes it. Line numbers are
    not part of ``ast.dump``'s output, so moving code by adding a comment line keeps it too.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _source(name):
    return Path(importlib.util.find_spec(f"{__package__}.{name}").origin).read_text()


def _imported(tree):
    """Names of the bpcourse modules a module imports (at the top or inside a function)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .m import f / . import m
            names.update([node.module] if node.module else (a.name for a in node.names))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == __package__:
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith(f"{__package__}."))
    return {n.split(".")[0] for n in names}


@functools.cache
def _code_modules(name):
    """``name`` and every package module it imports, directly or not, sorted."""
    seen, todo = set(), [name]
    while todo:
        m = todo.pop()
        if m not in seen and importlib.util.find_spec(f"{__package__}.{m}") is not None:
            seen.add(m)
            todo.extend(_imported(ast.parse(_source(m))))
    return tuple(sorted(seen))


@functools.cache
def code_hash(name):
    """Hash of the code that computes module ``name``'s results, and of MNIST's content.

    Covers ``name`` and every bpcourse module it imports, directly or not (for
    ``experiments``: activations, losses, mlp, optim, train, the input validation, the
    MNIST loader, io, datasets and experiments itself), each hashed by ``source_hash``, so
    no module can be left out by hand. Computed on first use, then memoised.
    """
    parts = [f"{m}:{source_hash(_source(m))}" for m in _code_modules(name)]
    parts.append(f"mnist-content:{mnist.CONTENT_SHA256}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class RunCache:
    """Finished results on disk: one JSON file per key, ``runs_home()/<namespace>-<key>.json``.

    A key hashes a configuration (a JSON-able dict) with ``code_hash(module)``: a change to
    the code that computes the results starts afresh, a change to a docstring or a comment
    does not. Writes are atomic (an interrupted build never leaves half an entry) and a
    damaged entry reads as absent and is deleted, so it is computed again. ``run`` and the
    60-second record (``speedrun.record_run``) both keep their results here.

        cache = RunCache("record", "speedrun")
        key = cache.key(config)
        if (result := cache.get(key)) is None:
            result = compute(config)
            cache.put(key, result)
    """

    def __init__(self, namespace, module):
        self.namespace, self.module = namespace, module

    def key(self, config):
        """24 hex digits naming ``config``'s entry under the current code."""
        blob = json.dumps(config, sort_keys=True, default=str) + code_hash(self.module)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def path(self, key):
        return runs_home() / f"{self.namespace}-{key}.json"

    def get(self, key):
        """The cached result, or None when absent; a damaged entry is deleted."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            path.unlink()
            return None

    def put(self, key, result):
        """Store ``result`` (JSON-able) under ``key``, atomically."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two writers never share a file
        tmp.write_text(json.dumps(result))
        tmp.replace(path)


_RUNS = RunCache("run", "experiments")


def _key(c):
    keyed = dict(c)
    if c["start_from"] is not None:
        keyed["start_from"] = hashlib.sha256(Path(c["start_from"]).read_bytes()).hexdigest()
    return _RUNS.key(keyed)


def _optimizer(net, c):
    kwargs = {"momentum": c["momentum"]} if c["optimizer"] == "sgd" else {}
    opt = OPTIMIZERS[c["optimizer"]](lr=c["lr"], weight_decay=c["weight_decay"], **kwargs)
    if c["grad"] == "mean" and c["bias"]:
        return opt  # the plain optimizer, as before these options existed
    return ReportStep(net, opt, grad=c["grad"], bias=c["bias"])


_MNIST = {}


def _mnist(dtype):
    if dtype not in _MNIST:
        _MNIST[dtype] = mnist.load_mnist(dtype=dtype, progress=False)
    return _MNIST[dtype]


def run(config, cache=True, progress=False, save_model=None, diverged="raise"):
    """Train one configuration on MNIST (Nielsen's split) and return its result row.

    The row holds the configuration, ``train_acc``/``val_acc``/``test_acc`` and losses
    after the last epoch, ``best_val_acc`` and ``best_epoch``, ``seconds_per_epoch``, and
    ``history`` (per-epoch lists, including ``test_acc``). ``save_model`` writes the
    trained network as JSON (the run is then always trained, never read from cache).

    A run whose loss becomes NaN or inf raises ``train.Diverged``; with
    ``diverged="keep"`` it returns (and caches) the configuration with ``diverged``:
    ``{"epoch", "batch", "loss", "message"}`` instead, so a sweep that expects some runs to
    diverge neither stops nor trains them again.
    """
    if diverged not in ("raise", "keep"):
        raise ValueError(f"diverged must be 'raise' or 'keep', got {diverged!r}")
    c = _normalise(config)
    key = _key(c)
    if cache and save_model is None and (row := _RUNS.get(key)) is not None:
        if "diverged" in row and diverged == "raise":
            raise _diverged(row)
        return row
    try:
        return _train_run(c, key, cache, progress, save_model)
    except train.Diverged as err:
        if diverged == "raise":
            raise
        row = {**c, "hidden": list(c["hidden"]), "key": key,
               "diverged": {"epoch": err.epoch, "batch": err.batch, "loss": str(err.loss),
                            "message": str(err)}}
        if cache:
            _RUNS.put(key, row)
        return row


def _train_run(c, key, cache, progress, save_model):
    (Xtr, ytr), (Xva, yva), (Xte, yte) = _mnist(c["dtype"])
    if c["train_size"]:
        Xtr, ytr = Xtr[:c["train_size"]], ytr[:c["train_size"]]
    if c["train_on"] == "train+val":
        Xtr, ytr = np.concatenate([Xtr, Xva]), np.concatenate([ytr, yva])
    if c["start_from"] is not None:
        net = load_json(c["start_from"]).copy(dtype=c["dtype"])
    else:
        net = MLP([784, *c["hidden"], 10], activation=c["activation"], output=c["output"],
                  loss=c["loss"], init=c["init"], seed=c["seed"], dtype=c["dtype"],
                  dropout=c["dropout"])
    best_params = None

    def track_test(net, hist):
        nonlocal best_params
        if hist["val_acc"][-1] is None:  # an epoch fit did not evaluate (eval_every)
            hist.setdefault("test_acc", []).append(None)
            return False
        hist.setdefault("test_acc", []).append(train._evaluate(net, Xte, yte)[1])
        if c["patience"] is None:
            return False
        seen = [i for i, v in enumerate(hist["val_acc"]) if v is not None]
        best = max(seen, key=lambda i: hist["val_acc"][i])  # the first of equal ones
        if best == seen[-1]:
            best_params = {k: v.copy() for k, v in net.params.items()}
        return len(seen) - 1 - seen.index(best) >= c["patience"]  # True stops training

    t0 = time.perf_counter()
    hist = train.fit(net, (Xtr, ytr), val=(Xva, yva), epochs=c["epochs"],
                     batch_size=c["batch_size"], seed=c["seed"], progress=progress,
                     optimizer=_optimizer(net, c), eval_every=c["eval_every"],
                     on_epoch=track_test)
    if best_params is not None:  # early stopping keeps the best epoch's network
        net.params = best_params
    test_loss, test_acc = train.evaluate(net, Xte, yte)
    seen = [i for i, v in enumerate(hist["val_acc"]) if v is not None]
    best = max(seen, key=lambda i: hist["val_acc"][i])
    last = best if best_params is not None else len(hist["epoch"]) - 1  # the returned network
    row = {**c, "hidden": list(c["hidden"]), "key": key,
           "train_acc": hist["train_acc"][last], "val_acc": hist["val_acc"][last],
           "test_acc": test_acc, "train_loss": hist["train_loss"][last],
           "val_loss": hist["val_loss"][last], "test_loss": test_loss,
           "best_val_acc": hist["val_acc"][best], "best_epoch": best + 1,
           "epochs_run": len(hist["epoch"]),
           "seconds_per_epoch": float(np.mean(hist["seconds"])),
           "wall_seconds": time.perf_counter() - t0, "history": hist}
    if save_model is not None:
        from .io import save_json
        save_json(net, save_model)
    if cache:
        _RUNS.put(key, row)
    return row


def sweep(configs, base=None, seeds=(0,), cache=True, progress=True, diverged="raise",
          workers=None):
    """Run every configuration (merged over ``base``) for every seed; one progress bar.

    Returns a ``Table`` of result rows in the order given (configuration-major, then seed).
    ``diverged`` is passed to ``run``.

    Runs not in the cache are trained in ``workers`` processes at once (default: one per
    core the process may use, at most one per run), each limited to its share of the BLAS
    threads: on two cores one each, where the small products of mini-batch training lose
    little (``bpcourse.threads``), so two processes finish a sweep in about half the time.
    The longest runs start first, and the workers stay for the next call (started again if
    the environment changed). ``workers=1`` trains here, in order.
    The rows do not depend on where a run was trained, up to the rounding of a different
    number of BLAS threads.
    """
    todo = [{**(base or {}), **cfg, "seed": s} for cfg in configs for s in seeds]
    rows = [None] * len(todo)
    missing = {}  # key -> indices of todo waiting for that run (a config may repeat)
    for i, cfg in enumerate(todo):
        key = _key(_normalise(cfg))
        row = _RUNS.get(key) if cache else None
        if row is not None:
            rows[i] = row
        else:
            missing.setdefault(key, []).append(i)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = min(len(missing), workers or cores or 1)
    bar = tqdm(total=len(todo), initial=len(todo) - sum(map(len, missing.values())),
               desc="sweep", unit="run", disable=not progress)
    try:
        if n <= 1:
            for idx in missing.values():
                bar.set_postfix_str(", ".join(f"{k}={v}" for k, v in todo[idx[0]].items()
                                              if k != "seed"), refresh=False)
                row = run(todo[idx[0]], cache=cache, diverged="keep")
                for i in idx:
                    rows[i] = row
                bar.update(len(idx))
        else:
            _train_in_workers(todo, missing, rows, n, cache, bar)
    finally:
        bar.close()
    for row in rows:  # every run is trained (and cached) before one raises
        if "diverged" in row and diverged == "raise":
            raise _diverged(row)
    return Table(rows)


def _diverged(row):
    """The ``train.Diverged`` a kept row of a diverging run stands for."""
    d = row["diverged"]
    return train.Diverged(float(d["loss"]), d["epoch"], d["batch"], row["lr"])


def python_child(call):
    """A ``python -c call`` process that can import this package, with text pipes to its
    stdin and stdout: the workers of ``sweep`` and the record's distorting process
    (``speedrun``) speak JSON lines over them. Not multiprocessing: its spawn re-imports the
    caller's main script, which breaks scripts without a main guard."""
    path = [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]
    return subprocess.Popen([sys.executable, "-c", call], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))})


def _cost(c):
    """A rough measure of a run's training time: images seen x multiply-adds per image,
    per-image steps (batch 1) counted three times (their overhead is per step)."""
    sizes = [784, *c["hidden"], 10]
    n = (c["train_size"] or 50_000) * (1.2 if c["train_on"] == "train+val" else 1)
    per_image = sum(a * b for a, b in pairwise(sizes))
    return c["epochs"] * n * per_image * (3 if c["batch_size"] == 1 else 1)


# Idle sweep workers, kept for the life of this process: starting one (Python, numpy, the
# package, MNIST) costs about a second and a book chapter calls sweep several times.
_IDLE = []  # (signature, process)
_IDLE_LOCK = threading.Lock()


def _signature(share):
    """What a worker was started with: its BLAS threads and this process's environment
    (a changed $BPCOURSE_RUNS or $BPCOURSE_DATA must reach the worker)."""
    return share, tuple(sorted(os.environ.items()))


def _take_worker(share):
    """An idle worker started like one would be now, or a new one."""
    sig = _signature(share)
    with _IDLE_LOCK:
        while _IDLE:
            s, proc = _IDLE.pop()
            if s == sig and proc.poll() is None:
                return proc
            _stop_worker(proc)
    return python_child(f"from bpcourse.experiments import _worker; _worker({share})")


def _stop_worker(proc):
    proc.stdin.close()  # the worker's loop ends at the end of its input
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@atexit.register
def _stop_idle_workers():
    with _IDLE_LOCK:
        while _IDLE:
            _stop_worker(_IDLE.pop()[1])


def _train_in_workers(todo, missing, rows, n, cache, bar):
    """Train the missing runs in n worker processes, one run at a time each, the longest
    first (so the last run to finish is a short one and no core waits long for it).

    A worker (``python_child``) reads JSON configurations on stdin and writes JSON rows on
    stdout (the rows are what the cache stores anyway). Workers are kept for the next call.
    """
    share = max(1, threads.available() // n)
    jobs = queue.Queue()
    for idx in sorted(missing.values(), key=lambda idx: -_cost(_normalise(todo[idx[0]]))):
        jobs.put(idx)

    def serve():
        proc, healthy = _take_worker(share), False
        try:
            while True:
                try:
                    idx = jobs.get_nowait()
                except queue.Empty:
                    healthy = True
                    return
                proc.stdin.write(json.dumps({"config": todo[idx[0]], "cache": cache}) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"a sweep worker died (exit code {proc.wait()}) while "
                                       f"training {todo[idx[0]]}")
                reply = json.loads(line)
                if "error" in reply:
                    raise RuntimeError(f"training {todo[idx[0]]} failed in a sweep worker:\n"
                                       f"{reply['error']}")
                for i in idx:
                    rows[i] = reply["row"]
                bar.update(len(idx))
        finally:
            if healthy:
                with _IDLE_LOCK:
                    _IDLE.append((_signature(share), proc))
            else:
                _stop_worker(proc)

    with ThreadPoolExecutor(n) as pool:
        for future in [pool.submit(serve) for _ in range(n)]:
            future.result()  # a worker's error is raised here


def _worker(blas_threads):
    """The loop of a sweep worker process (see ``_train_in_workers``)."""
    threadpool_limits(limits=blas_threads, user_api="blas")
    for line in sys.stdin:
        job = json.loads(line)
        try:
            reply = {"row": run(job["config"], cache=job["cache"], diverged="keep")}
        except Exception:  # reported to the parent, which raises it with the config
            reply = {"error": traceback.format_exc()}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


class Table:
    """A list of result rows (dicts) with a summary by group and a readable display."""

    def __init__(self, rows):
        self.rows = list(rows)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def where(self, **match):
        """Rows whose fields equal the given values (``hidden`` compared as a list)."""
        norm = {k: list(v) if isinstance(v, tuple) else v for k, v in match.items()}
        return Table(r for r in self.rows if all(r[k] == v for k, v in norm.items()))

    def column(self, name):
        return [r[name] for r in self.rows]

    def summary(self, by, metrics=("test_acc", "seconds_per_epoch")):
        """Mean and standard deviation of each metric over the rows of each group (seeds)."""
        groups = {}
        for r in self.rows:
            groups.setdefault(tuple(json.dumps(r[k]) for k in by), []).append(r)
        out = []
        for key, rs in groups.items():
            row = {k: json.loads(v) for k, v in zip(by, key, strict=True)}
            row["n"] = len(rs)
            for m in metrics:
                vals = [r[m] for r in rs]
                row[m] = statistics.fmean(vals)
                row[f"{m}_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
            out.append(row)
        return Table(out)

    def _repr_html_(self):
        if not self.rows:
            return "<p>(no rows)</p>"
        cols = [k for k in self.rows[0] if k not in ("history", "key")]

        def fmt(v):
            return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{fmt(r[c])}</td>" for c in cols) + "</tr>"
                       for r in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self):
        return f"Table({len(self.rows)} rows)"
