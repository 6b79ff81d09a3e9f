import json

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
