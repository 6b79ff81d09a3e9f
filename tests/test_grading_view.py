"""What a graded kernel can import of bpcourse: its assignment's tools, nothing that grades."""

import subprocess
import sys

import pytest

from bpcourse.grading import view
from bpcourse.grading.contract import BEHAVIOURS, TOOLS

PROBE = r"""
import importlib, json, sys
# The sandbox mounts the view at the package's path, where the editable install points;
# here the view comes first on sys.path and the editable install's finder is set aside.
sys.meta_path = [f for f in sys.meta_path if "Editable" not in getattr(f, "__name__", "")]
sys.path.insert(0, sys.argv[1])
import bpcourse
out = {"file": bpcourse.__file__, "missing": [], "present": []}
for mod in ["activations", "losses", "mlp", "optim", "train", "io", "mnist", "gradcheck",
            "grading.checks", "grading.reference", "grading.contract", "grading.kernel"]:
    try:
        importlib.import_module("bpcourse." + mod)
        out["present"].append(mod)
    except ImportError:
        out["missing"].append(mod)
from bpcourse.grading import explain, record  # what every test cell imports
out["names"] = {m: sorted(n for n in dir(sys.modules["bpcourse." + m]) if not n.startswith("_"))
                for m in out["present"]}
print(json.dumps(out))
"""


def _probe(tmp_path, assignment):
    import json

    folder = view.build(assignment, tmp_path)
    (tmp_path / "root").mkdir(exist_ok=True)
    link = tmp_path / "root" / "bpcourse"
    if not link.exists():
        link.symlink_to(folder)
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "root")],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    return json.loads(out)


@pytest.mark.parametrize("assignment", sorted(TOOLS))
def test_a_view_holds_no_function_its_assignment_grades(tmp_path, assignment):
    got = _probe(tmp_path, assignment)
    assert got["file"].startswith(str(tmp_path))  # the view, not the package
    assert {"grading.checks", "grading.reference", "grading.contract"} <= set(got["missing"])
    graded = {b.function for b in BEHAVIOURS.values() if b.assignment == assignment}
    for module, names in got["names"].items():
        assert not graded & set(names), (module, graded & set(names))


def _probe_in(tmp_path, assignment):
    (tmp_path / assignment).mkdir()
    return _probe(tmp_path / assignment, assignment)


def test_each_assignment_gets_its_tools_and_no_more(tmp_path):
    ps2 = _probe_in(tmp_path, "ps2")
    assert ps2["present"] == ["activations", "grading.kernel"]
    assert {"relu", "sigmoid", "tanh"} <= set(ps2["names"]["activations"])
    assert "softmax" not in ps2["names"]["activations"]  # ps2 grades it
    ps4 = _probe_in(tmp_path, "ps4")
    assert {"optim", "train"} <= set(ps4["missing"])  # SGD and fit implement what ps4 grades
    assert "save_json" not in ps4["names"]["io"] and "load_json" in ps4["names"]["io"]
    assert "MLP" in ps4["names"]["mlp"]
    ps1 = _probe_in(tmp_path, "ps1")
    assert ps1["present"] == ["grading.kernel"]


def test_a_table_that_would_show_a_graded_function_is_refused(monkeypatch):
    monkeypatch.setitem(TOOLS, "ps2", {"activations": None})  # softmax is graded in ps2
    with pytest.raises(view.ViewError, match="softmax"):
        view.files("ps2")
    monkeypatch.setitem(TOOLS, "ps4", {"experiments": None})
    with pytest.raises(view.ViewError, match="grader's"):
        view.files("ps4")


def test_subset_keeps_what_the_names_use():
    src = '"""doc"""\nimport os\n\nA = 1\n\n\ndef f():\n    return g() + A\n\n\ndef g():\n' \
          '    return 2\n\n\ndef secret():\n    return 3\n'
    out = view.subset(src, ["f"])
    assert "def g" in out and "A = 1" in out and "import os" in out and "secret" not in out
    ns = {}
    exec(compile(out, "x", "exec"), ns)
    assert ns["f"]() == 3
