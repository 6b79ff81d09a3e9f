import json
import subprocess
import sys

import pytest

import bpcourse as bp


def run(*args):
    return subprocess.run([sys.executable, "-m", "bpcourse", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_train_then_evaluate(tmp_path):
    model = tmp_path / "model.json"
    out = run("train", "--hidden", "32", "--epochs", "1", "--train-size", "5000",
              "--save", str(model))
    assert out.returncode == 0, out.stderr
    acc = float(out.stdout.split("test accuracy: ")[1].split("%")[0])
    assert acc > 80
    assert json.loads(model.read_text())["sizes"] == [784, 32, 10]
    ev = run("evaluate", str(model))
    assert ev.returncode == 0 and f"test accuracy: {acc:.2f}%" in ev.stdout


def test_evaluate_reports_a_bad_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    out = run("evaluate", str(bad))
    assert out.returncode == 1
    assert "error: model file" in out.stderr and "not valid JSON" in out.stderr


def test_bad_option():
    out = run("train", "--activation", "swish")
    assert out.returncode == 2 and "invalid choice: 'swish'" in out.stderr


def test_options_come_from_the_package_tables():
    from bpcourse import activations, losses
    from bpcourse.__main__ import build_parser
    from bpcourse.experiments import DEFAULTS
    from bpcourse.mlp import INITS
    from bpcourse.speedrun import RECORD_DEFAULTS

    parser = build_parser()
    train = vars(parser.parse_args(["train"]))
    for k in ("activation", "output", "loss", "init", "epochs", "momentum", "weight_decay",
              "dropout", "batch_size", "train_size", "dtype", "seed"):
        assert train[k] == DEFAULTS[k], k
    assert train["lr"] is None  # each optimizer's own rate
    from bpcourse.__main__ import make_optimizer
    assert make_optimizer(parser.parse_args(["train", "--optimizer", "adam"])).lr == bp.Adam().lr
    assert make_optimizer(parser.parse_args(["train"])).lr == bp.SGD().lr
    assert make_optimizer(parser.parse_args(["train", "--lr", "0.5"])).lr == 0.5
    assert train["hidden"] == list(DEFAULTS["hidden"])
    record = vars(parser.parse_args(["record"]))
    assert {k: record[k] for k in RECORD_DEFAULTS} == {**RECORD_DEFAULTS, "hidden": [800]}
    for act in activations.HIDDEN:
        assert parser.parse_args(["train", "--activation", act]).activation == act
    for out in activations.OUTPUTS:
        assert parser.parse_args(["train", "--output", out]).output == out
    for name in [*losses.LOSSES, *INITS]:
        opt = "--loss" if name in losses.LOSSES else "--init"
        assert vars(parser.parse_args(["train", opt, name]))[opt[2:]] == name
    args = parser.parse_args(["record", "--budget", "5", "--hidden", "64", "32",
                              "--max-shift", "0"])
    assert (args.budget, args.hidden, args.max_shift) == (5.0, [64, 32], 0)


@pytest.mark.slow
def test_record_command(tmp_path):
    out = run("record", "--budget", "2", "--hidden", "32", "--max-shift", "0",
              "--save", str(tmp_path / "rec.json"))
    assert out.returncode == 0, out.stderr
    assert "record: test accuracy" in out.stdout and (tmp_path / "rec.json").exists()
