"""Copied answers: a similarity report for the instructor (it flags; it never deducts).

For each assignment, the code of every submission's answer cells is compared, with
copydetect's winnowed fingerprints (the method of MOSS), with every other submission's and
with the course's own code: the solution notebook's answers and the ``bpcourse``
package, from which the book shows its code. What the release already gives students
(signatures, docstrings, the ``YOUR CODE HERE`` stub) is boilerplate and never counts.
"""

import csv
import json
import tempfile
from pathlib import Path

from .driver import GRADING

THRESHOLD = 0.8  # share of a submission's fingerprints found in the other file


def answers(notebook):
    """The source of a notebook's answer cells (nbgrader solution cells that are code)."""
    try:
        nb = json.loads(Path(notebook).read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return ""
    out = []
    for cell in nb.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell.get("cell_type") == "code" and meta.get("solution"):
            src = cell.get("source", "")
            out.append("".join(src) if isinstance(src, list) else str(src))
    return "\n\n".join(out) + "\n"


def report(course, pairs, threshold=THRESHOLD):
    """Rows {assignment, student, other, similarity}: a submission's answers against
    another's ("student:<id>") or the course's code ("reference" or "bpcourse/<module>"),
    most similar first; only pairs at or above ``threshold``. Writes
    ``_grading/similarity.csv``."""
    from copydetect import CopyDetector

    course = Path(course)
    package = Path(__file__).resolve().parents[1]
    rows = []
    for assignment in sorted({a for _, a in pairs}):
        students = sorted(s for s, a in pairs if a == assignment)
        with tempfile.TemporaryDirectory(prefix="bpcourse-similarity-") as tmp:
            tmp = Path(tmp)
            names = {}
            det = CopyDetector(extensions=["py"], display_t=threshold, autoopen=False,
                               silent=True, out_file=str(tmp / "report.html"))
            for s in students:
                path = course / GRADING / "submitted" / s / assignment / f"{assignment}.ipynb"
                f = tmp / "students" / f"{len(names)}.py"
                f.parent.mkdir(exist_ok=True)
                f.write_text(answers(path))
                names[str(f)] = f"student:{s}"
                det.add_file(str(f), "testref")
            source = course / GRADING / "source" / assignment / f"{assignment}.ipynb"
            ref = tmp / "reference.py"
            ref.write_text(answers(source))
            names[str(ref)] = "reference"
            det.add_file(str(ref), "ref")
            for module in sorted(package.glob("*.py")):
                names[str(module)] = f"bpcourse/{module.name}"
                det.add_file(str(module), "ref")
            release = course / "assignments" / assignment / f"{assignment}.ipynb"
            stub = tmp / "release.py"
            stub.write_text(answers(release))
            det.add_file(str(stub), "boilerplate")
            det.run()
            for test_sim, _, a, b, *_ in det.get_copied_code_list():
                who, other = names[a], names[b]
                if not who.startswith("student:"):
                    who, other = other, who
                if who.startswith("student:") and test_sim >= threshold:
                    rows.append({"assignment": assignment,
                                 "student": who.removeprefix("student:"),
                                 "other": other, "similarity": round(float(test_sim), 3)})
    rows.sort(key=lambda r: (-r["similarity"], r["assignment"], r["student"], r["other"]))
    with open(course / GRADING / "similarity.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["assignment", "student", "other", "similarity"])
        w.writeheader()
        w.writerows(rows)
    return rows
