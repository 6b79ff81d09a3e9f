import json
import subprocess
import sys

import numpy as np
import pytest

import bpcourse as bp
from bpcourse import experiments as ex


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("BPCOURSE_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_grid():
    g = ex.grid(lr=[0.1, 0.01], batch_size=[64, 128, 256])
    assert len(g) == 6 and g[0] == {"lr": 0.1, "batch_size": 64}


def test_unknown_key():
    with pytest.raises(ValueError, match=r"unknown configuration key\(s\) \['lrate'\]"):
        ex.run({"lrate": 0.1})


@pytest.mark.slow
def test_sweep_caches_and_summarises(runs, monkeypatch):
    base = {"hidden": (16,), "train_size": 1000, "epochs": 2}
    table = ex.sweep(ex.grid(activation=["sigmoid", "relu"]), base=base, seeds=[0, 1],
                     progress=False)
    assert len(table) == 4 and len(list(runs.glob("*.json"))) == 4
    row = table[0]
    assert row["activation"] == "sigmoid" and row["seed"] == 0 and row["hidden"] == [16]
    assert len(row["history"]["test_acc"]) == 2 and 0.2 < row["test_acc"] <= 1  # above chance (0.1)
    assert row["history"]["test_acc"][-1] == row["test_acc"]
    # A second sweep reuses every run: training is never called.
    monkeypatch.setattr(ex.train, "fit", lambda *a, **k: pytest.fail("recomputed a run"))
    again = ex.sweep(ex.grid(activation=["sigmoid", "relu"]), base=base, seeds=[0, 1],
                     progress=False)
    assert [r["test_acc"] for r in again] == [r["test_acc"] for r in table]
    s = table.summary(by=["activation"], metrics=["test_acc"])
    assert [r["activation"] for r in s] == ["sigmoid", "relu"]
    relu = table.where(activation="relu").column("test_acc")
    assert s[1]["n"] == 2 and s[1]["test_acc"] == pytest.approx(sum(relu) / 2)
    assert "<table>" in table._repr_html_()


@pytest.mark.slow
def test_damaged_cache_entry_is_recomputed(runs):
    cfg = {"hidden": (8,), "train_size": 500, "epochs": 1}
    first = ex.run(cfg)
    (entry,) = runs.glob("*.json")
    entry.write_text("{trunc")
    again = ex.run(cfg)
    assert again["test_acc"] == first["test_acc"]
    json.loads(entry.read_text())


@pytest.mark.slow
def test_continue_from_saved_model(runs, tmp_path):
    model = tmp_path / "best.json"
    cfg = {"hidden": (8,), "train_size": 500, "epochs": 1}
    first = ex.run(cfg, save_model=model)
    net = bp.load_json(model)
    assert net.sizes == [784, 8, 10]
    phase2 = ex.run({**cfg, "start_from": str(model), "train_on": "train+val"})
    assert phase2["start_from"] == str(model) and phase2["test_acc"] != first["test_acc"]


MODULE = '''"""A module."""

def f(x):
    """Square x."""
    return x * x  # the square
'''


def test_source_hash_ignores_docstrings_and_comments():
    edited = MODULE.replace('"""Square x."""', '"""Return x times x.\n\n    Longer.\n    """')
    edited = edited.replace("# the square", "# x squared").replace('"""A module."""', "")
    assert ex.source_hash(edited) == ex.source_hash(MODULE)
    assert ex.source_hash("# a comment first\n" + MODULE) == ex.source_hash(MODULE)
    assert ex.source_hash(MODULE.replace("x * x", "x ** 2")) != ex.source_hash(MODULE)
    assert ex.source_hash(MODULE.replace("return", "y = 1\n    return")) != ex.source_hash(MODULE)


def test_code_hash_covers_every_module_a_result_depends_on():
    run_code = ex._code_modules("experiments")
    for m in ("experiments", "_validation", "mnist", "mlp", "train", "optim", "activations",
              "losses", "io"):
        assert m in run_code
    assert "speedrun" not in run_code and "plots" not in run_code
    assert "speedrun" in ex._code_modules("speedrun")
    assert ex.code_hash("speedrun") != ex.code_hash("experiments")


def test_code_hash_is_computed_on_first_use():
    code = ("import bpcourse as bp; ex = bp.experiments\n"
            "assert ex.code_hash.cache_info().currsize == 0\n"
            "ex.RunCache('run', 'experiments').key({})\n"
            "assert ex.code_hash.cache_info().currsize == 1")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_cache_round_trip_and_damaged_entry(runs):
    cache = ex.RunCache("test", "experiments")
    key = cache.key({"a": 1})
    assert key != cache.key({"a": 2}) and cache.get(key) is None
    cache.put(key, {"acc": 0.5})
    assert cache.get(key) == {"acc": 0.5}
    assert [p.name for p in runs.iterdir()] == [f"test-{key}.json"]  # no temporary file left
    cache.path(key).write_text('{"acc": 0.')  # an interrupted writer of an older version
    assert cache.get(key) is None and not cache.path(key).exists()


def _tiny_net_and_batch(seed=0):
    rng = np.random.default_rng(seed)
    net = bp.MLP([3, 4, 2], activation="sigmoid", output="softmax", seed=seed)
    X, y = rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    return net, X, y


def test_report_step_sum_is_n_times_the_mean_gradient():
    # One SGD step on the summed gradient of a batch of 5 = one step at 5 times the rate.
    a, X, y = _tiny_net_and_batch()
    b = a.copy()
    for net, opt in [(a, ex.ReportStep(a, bp.SGD(lr=0.1), grad="sum")), (b, bp.SGD(lr=0.5))]:
        net.forward(X)
        opt.step(net.params, net.backward(y))
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-12, atol=1e-15)
    assert ex.ReportStep(a, bp.SGD(lr=0.1)).lr == 0.1


def test_report_step_without_biases_keeps_them_zero():
    net, X, y = _tiny_net_and_batch()
    W1 = net.params["W1"].copy()
    opt = ex.ReportStep(net, bp.Adam(lr=0.01), bias=False)
    assert all(not net.params[k].any() for k in ("b1", "b2"))  # zeroed at once
    for _ in range(3):
        net.forward(X)
        opt.step(net.params, net.backward(y))
    assert all(not net.params[k].any() for k in ("b1", "b2"))
    assert not np.allclose(net.params["W1"], W1)  # the weights did learn


def test_bad_optimizer_options():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        ex.run({"optimizer": "rmsprop"})
    with pytest.raises(ValueError, match="momentum is SGD's"):
        ex.run({"optimizer": "adam", "momentum": 0.9})
    with pytest.raises(ValueError, match="grad must be 'mean' or 'sum'"):
        ex.run({"grad": "total"})
    with pytest.raises(ValueError, match="bias must be True or False"):
        ex.run({"bias": 0})
    with pytest.raises(ValueError, match="patience must be None or a whole number >= 1"):
        ex.run({"patience": 0})


@pytest.mark.slow
def test_run_with_adam_summed_gradient_no_biases(runs, tmp_path):
    cfg = {"hidden": (8,), "train_size": 500, "epochs": 1, "optimizer": "adam", "lr": 1e-3,
           "grad": "sum", "bias": False}
    model = tmp_path / "adam.json"
    row = ex.run(cfg, save_model=model)
    assert row["optimizer"] == "adam" and row["grad"] == "sum" and row["bias"] is False
    assert row["test_acc"] > 0.2
    net = bp.load_json(model)
    assert not net.params["b1"].any() and not net.params["b2"].any()
    sgd = ex.run({**cfg, "optimizer": "sgd", "lr": 0.1})
    assert sgd["key"] != row["key"] and sgd["test_acc"] != row["test_acc"]


@pytest.mark.slow
def test_run_with_regularisation_and_early_stopping(runs):
    """weight_decay and dropout reach the optimizer and the net; patience stops and keeps the
    best epoch's network (its validation accuracy is the best one, its test accuracy that
    epoch's)."""
    base = {"hidden": (16,), "train_size": 500, "epochs": 8, "lr": 0.5}
    plain = ex.run(base)
    reg = ex.run({**base, "weight_decay": 1e-3, "dropout": 0.2})
    assert reg["key"] != plain["key"] and reg["test_acc"] != plain["test_acc"]
    stopped = ex.run({**base, "patience": 1})
    h = stopped["history"]
    assert stopped["epochs_run"] == len(h["epoch"]) <= base["epochs"]
    best = stopped["best_epoch"] - 1
    assert stopped["epochs_run"] == base["epochs"] or stopped["epochs_run"] == best + 2
    assert stopped["val_acc"] == max(h["val_acc"]) == stopped["best_val_acc"]
    assert stopped["test_acc"] == pytest.approx(h["test_acc"][best])
    # Every metric of the row is the kept epoch's, the training loss too.
    assert stopped["train_loss"] == h["train_loss"][best]
    assert stopped["train_acc"] == h["train_acc"][best]


@pytest.mark.slow
def test_eval_every_evaluates_every_kth_and_the_last_epoch(runs):
    base = {"hidden": (16,), "train_size": 500, "epochs": 7}
    every = ex.run(base)
    sparse = ex.run({**base, "eval_every": 3})
    h = sparse["history"]
    evaluated = [e for e, v in zip(h["epoch"], h["val_acc"], strict=True) if v is not None]
    assert evaluated == [3, 6, 7]
    assert [v is None for v in h["test_acc"]] == [v is None for v in h["val_acc"]]
    # The same training, fewer evaluations: the evaluated epochs agree with the full run's.
    for e in evaluated:
        assert h["val_acc"][e - 1] == every["history"]["val_acc"][e - 1]
    assert sparse["test_acc"] == every["test_acc"] and sparse["val_acc"] == every["val_acc"]
    assert sparse["best_val_acc"] == max(v for v in h["val_acc"] if v is not None)
    with pytest.raises(ValueError, match="eval_every must be a whole number >= 1, got 0"):
        ex.run({**base, "eval_every": 0})


@pytest.mark.slow
def test_diverging_run_is_kept_and_cached_or_raises(runs):
    cfg = {"hidden": (16,), "train_size": 500, "epochs": 2, "lr": 50.0, "output": "identity",
           "loss": "mse"}
    with pytest.raises(bp.train.Diverged) as err:
        ex.run(cfg)
    assert err.value.lr == 50.0
    row = ex.sweep([cfg], diverged="keep", progress=False)[0]
    assert (row["diverged"]["epoch"], row["diverged"]["batch"]) == (err.value.epoch,
                                                                     err.value.batch)
    assert "test_acc" not in row
    assert len(list(runs.glob("run-*.json"))) == 1  # cached ...
    again = ex.run(cfg, diverged="keep")  # ... and read back, not trained again
    assert again == row
    with pytest.raises(bp.train.Diverged,
                       match=f"epoch {err.value.epoch}, batch {err.value.batch}:"):
        ex.run(cfg)  # a cached divergence still raises by default
    with pytest.raises(ValueError, match="diverged must be 'raise' or 'keep'"):
        ex.run(cfg, diverged="ignore")


@pytest.mark.slow
def test_sweep_in_two_worker_processes_matches_one(runs, tmp_path, monkeypatch):
    """Two workers give the rows one process gives, in the order asked, repeats included;
    a diverging run is kept or raised as asked, after the others are cached."""
    base = {"hidden": (16,), "train_size": 500, "epochs": 2}
    configs = [{"lr": 0.1}, {"lr": 0.5}, {"lr": 0.1}]
    two = ex.sweep(configs, base=base, seeds=[0, 1], progress=False, workers=2)
    assert len(list(runs.glob("run-*.json"))) == 4  # the repeated config trained once
    monkeypatch.setenv("BPCOURSE_RUNS", str(tmp_path / "serial"))
    one = ex.sweep(configs, base=base, seeds=[0, 1], progress=False, workers=1)
    for a, b in zip(two, one, strict=True):
        assert (a["lr"], a["seed"]) == (b["lr"], b["seed"])
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=2e-3)
    bad = [{"lr": 50.0, "output": "identity", "loss": "mse"}, {"lr": 0.2}]
    kept = ex.sweep(bad, base=base, progress=False, workers=2, diverged="keep")
    assert "diverged" in kept[0] and "test_acc" in kept[1]
    with pytest.raises(bp.train.Diverged):
        ex.sweep(bad, base=base, progress=False, workers=2)


@pytest.mark.slow
def test_sweep_worker_errors_name_the_run(runs):
    """A run that fails inside a worker is raised in the caller, naming the run and the cause."""
    broken = runs.parent / "broken-model.json"
    broken.write_text('{"not": "a model"}')  # hashed by the caller, read by the worker
    with pytest.raises(RuntimeError,
                       match=r"(?s)broken-model.* failed in a sweep worker:.*ValueError: "
                             r"model file .*broken-model.json is not a bpcourse model"):
        ex.sweep([{"start_from": str(broken)}, {"start_from": str(broken), "lr": 0.2}],
                 base={"hidden": (16,), "train_size": 100, "epochs": 1}, progress=False,
                 workers=2)


@pytest.mark.slow
def test_sweep_workers_are_kept_and_follow_the_environment(runs, tmp_path, monkeypatch):
    """One sweep's workers train the next sweep's runs; a changed $BPCOURSE_RUNS gets new
    workers, which cache where the caller now looks."""
    base = {"hidden": (8,), "train_size": 200, "epochs": 1}
    ex.sweep([{"lr": 0.1}, {"lr": 0.2}], base=base, progress=False, workers=2)
    first = {proc.pid for _, proc in ex._IDLE}
    assert len(first) == 2
    ex.sweep([{"lr": 0.3}, {"lr": 0.4}], base=base, progress=False, workers=2)
    assert {proc.pid for _, proc in ex._IDLE} == first
    monkeypatch.setenv("BPCOURSE_RUNS", str(tmp_path / "elsewhere"))
    ex.sweep([{"lr": 0.3}, {"lr": 0.4}], base=base, progress=False, workers=2)
    assert not first & {proc.pid for _, proc in ex._IDLE}
    assert len(list((tmp_path / "elsewhere").glob("run-*.json"))) == 2


def test_longest_runs_go_first():
    """The order workers take runs in: more images, wider layers and batch 1 cost more."""
    c = ex._normalise
    assert ex._cost(c({"epochs": 10})) > ex._cost(c({"epochs": 2}))
    assert ex._cost(c({"hidden": (650,)})) > ex._cost(c({"hidden": (128,)}))
    assert ex._cost(c({"batch_size": 1})) > ex._cost(c({"batch_size": 64}))
    assert ex._cost(c({"train_size": 3000})) < ex._cost(c({}))
