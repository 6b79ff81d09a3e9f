import json
import subprocess
import sys

import pytest


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
