"""Layers of the package: the core never imports the experiment layer built on it."""

import subprocess
import sys
from pathlib import Path

import bpcourse
from bpcourse import experiments as ex

PACKAGE = Path(bpcourse.__file__).parent
EXPERIMENT_LAYER = {"experiments", "speedrun"}
# Built on the core: the experiment layer itself and the command line.
NOT_CORE = EXPERIMENT_LAYER | {"__main__"}


def test_core_modules_do_not_import_the_experiment_layer():
    core = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in NOT_CORE)
    assert {"__init__", "mlp", "train", "mnist", "_validation", "display"} <= set(core)
    for m in core:  # every module m imports, directly or through another module
        assert not set(ex._code_modules(m)) & EXPERIMENT_LAYER, f"{m} imports the experiment layer"
    assert "speedrun" in ex._code_modules("__main__")  # the scan does see imports


def test_importing_the_core_loads_no_experiment_module():
    code = """
import sys
import bpcourse.activations
import bpcourse as bp
bp.MLP([2, 3, 1], output="sigmoid", loss="bce")
loaded = {m for m in sys.modules if m.startswith("bpcourse.")}
assert not loaded & {"bpcourse.experiments", "bpcourse.speedrun"}, loaded
assert callable(bp.experiments.run) and callable(bp.speedrun.train_record)  # loaded on use
assert "experiments" in dir(bp)
"""
    subprocess.run([sys.executable, "-c", code], check=True)
