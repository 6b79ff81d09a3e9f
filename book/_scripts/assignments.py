"""What each problem set asks and what it is worth, for the chapters' "Now do ps N" sections.

Read from the two places that define them, never typed: the grading contract
(``bpcourse.grading.contract.BEHAVIOURS``: each autograded behaviour, its function and its
points) and the released notebook ``assignments/<ps>/<ps>.ipynb`` (its nbgrader cells, which
add the points graded by hand). A chapter imports it with ``sys.path`` pointing here:

    sys.path.insert(0, str(Path("_scripts").resolve()))
    from assignments import glue_assignment
    glue_assignment("ps1")   # glues ps1_total, ps1_auto, ps1_manual, ps1_behaviours, ps1_functions
"""

import json
from pathlib import Path

from bpcourse.grading.contract import BEHAVIOURS

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "assignments").iterdir()
                     if (p / f"{p.name}.ipynb").is_file())


def graded_cells(ps):
    """(grade_id, points, by_hand) of every graded cell of the released notebook."""
    nb = json.loads((ROOT / "assignments" / ps / f"{ps}.ipynb").read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            cells.append((meta["grade_id"], meta.get("points", 0), bool(meta.get("solution"))))
    return cells


def summary(ps):
    """Points (autograded, by hand, total), the functions to write and the behaviours graded."""
    behaviours = [b for b in BEHAVIOURS.values() if b.assignment == ps]
    auto = sum(b.points for b in behaviours)
    cells = graded_cells(ps)
    if auto != sum(p for _, p, hand in cells if not hand):
        raise AssertionError(f"{ps}: the contract's points ({auto}) differ from the notebook's")
    manual = sum(p for _, p, hand in cells if hand)
    functions = list(dict.fromkeys(b.function for b in behaviours))
    return {"auto": auto, "manual": manual, "total": auto + manual,
            "functions": functions, "behaviours": behaviours}


def glue_assignment(ps):
    """Glue ``<ps>_total``, ``_auto``, ``_manual``, ``_behaviours``, ``_functions``; return them."""
    from myst_nb import glue

    s = summary(ps)
    glue(f"{ps}_total", s["total"], display=False)
    glue(f"{ps}_auto", s["auto"], display=False)
    glue(f"{ps}_manual", s["manual"], display=False)
    glue(f"{ps}_behaviours", len(s["behaviours"]), display=False)
    glue(f"{ps}_functions", ", ".join(s["functions"]), display=False)
    return s
