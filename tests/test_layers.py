"""Layers of the package: the core never imports the experiment layer built on it."""

import ast
import subprocess
import sys
from pathlib import Path

import bpcourse

PACKAGE = Path(bpcourse.__file__).parent
EXPERIMENT_LAYER = {"experiments", "speedrun"}
# Built on the core: the experiment layer itself and the command line.
NOT_CORE = EXPERIMENT_LAYER | {"__main__"}


def imported(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or node.module == "bpcourse":
                names.update([node.module] if node.module and node.level else
                             (a.name for a in node.names))
            elif node.module and node.module.startswith("bpcourse."):
                names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("bpcourse."))
    return names


def test_core_modules_do_not_import_the_experiment_layer():
    core = [p for p in PACKAGE.glob("*.py") if p.stem not in NOT_CORE]
    assert {"mlp", "train", "mnist", "_validation", "__init__"} <= {p.stem for p in core}
    for path in core:
        assert not imported(path) & EXPERIMENT_LAYER, f"{path.name} imports the experiment layer"


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
