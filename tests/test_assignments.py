"""The graded assignments, end to end with nbgrader.

* The instructor's MyST notebooks (solutions/<ps>/<ps>.md) build into nbgrader source
  notebooks with the metadata nbgrader needs, and convert back unchanged.
* The committed release (assignments/) holds no solution and no hidden test, and is what
  ``make release`` makes from solutions/ today.
* One grading run (``python -m bpcourse.grading grade``, what ``make grade`` runs) in a
  copy of the course grades: the solution notebooks (full marks), the unmodified release
  notebooks (zero), one realistic buggy submission per common mistake (the expected
  partial score, and feedback naming the mistake) and a submission with an infinite loop
  (cut off by the timeout; the others are graded). The exported CSV, the feedback HTML
  and the summary table are checked, not just the exit code.

The buggy submissions are made here from the solution notebooks: a student's notebook is
the release with each answer cell filled in from the solution, then one edit plants the
bug.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from support import submit

import bpcourse.grading as grading
from bpcourse.grading import BEHAVIOURS, MISTAKES, driver, reference

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ["ps1", "ps2", "ps3", "ps4"]
TIMEOUT = 40  # seconds per cell here: honest cells take <= 7 s (3x that on a busy machine)
FULL = {"ps1": 13, "ps2": 9, "ps3": 13, "ps4": 13}
MANUAL = {"ps4": 3}  # the learning curve, graded by hand with the rubric

# student id: (assignment, answer cell, text in the solution, buggy text, score, mistake)
BUGS = {
    "sigmoid-itself": (
        "ps1", "sigmoid_prime", "s = sigmoid(z)\n    return s * (1 - s)",
        "return sigmoid(z)", 11, "sigmoid_itself"),
    "relu-in-place": (
        "ps1", "relu", "return np.maximum(z, 0.0)", "z[z < 0] = 0\n    return z",
        12, "in_place"),
    "bce-overflow": (
        "ps1", "bce_with_logits",
        "per_example = np.maximum(a, 0) - y * a + np.log1p(np.exp(-np.abs(a)))",
        "p = 1 / (1 + np.exp(-a))\n    per_example = -(y * np.log(p) + (1 - y) * np.log(1 - p))",
        12, "overflow"),
    "transposed-weights": (
        "ps2", "dense_forward", "return A_prev @ W + b", "return A_prev @ W.T + b",
        7, "transposed_weights"),
    "softmax-broadcast": (
        "ps2", "softmax", "return E / E.sum(axis=1, keepdims=True)", "return E / E.sum(axis=1)",
        7, "broadcasting"),
    "softmax-overflow": (
        "ps2", "softmax", "E = np.exp(Z - Z.max(axis=1, keepdims=True))", "E = np.exp(Z)",
        8, "overflow"),
    "missing-1-over-n": (
        "ps3", "softmax_cross_entropy_backward", "return (P - Y) / len(P)", "return P - Y",
        11, "missing_1_over_n"),
    "doubled-1-over-n": (
        "ps3", "dense_backward", "A_prev.T @ dZ,", "A_prev.T @ dZ / len(dZ),",
        11, "doubled_1_over_n"),
    "bias-not-summed": (
        "ps3", "dense_backward", "dZ.sum(axis=0)", "dZ", 12, "bias_not_summed"),
    "sgd-sign": (
        "ps4", "sgd_step", "p -= lr * grads[key]", "p += lr * grads[key]", 8, "sign_error"),
    "sgd-new-arrays": (
        "ps4", "sgd_step", "p -= lr * grads[key]", "params[key] = p - lr * grads[key]", 8,
        "rebound"),
    "infinite-loop": (
        "ps1", "relu_prime", "return (np.asarray(z) > 0).astype(float)",
        "out, flat, i = np.zeros(np.shape(z)), np.ravel(z), 0\n"
        "    while i < flat.size:  # forgot i += 1\n"
        "        out.flat[i] = float(flat[i] > 0)\n"
        "    return out", 12, None),
}


def _read(path):
    return nbformat.read(path, as_version=4)


def source_path(assignment):
    """nbgrader's source notebook of an assignment, built from solutions/<a>/<a>.md."""
    (path,) = driver.build_sources(ROOT, [assignment])
    return path


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _solution_lines(src):
    """Lines between ### BEGIN SOLUTION and ### END SOLUTION (all of a markdown answer)."""
    lines, inside = [], False
    for line in src.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside:
            lines.append(line.strip())
    return lines


def student_notebook(assignment):
    """The release notebook with every answer cell filled in from the solution."""
    nb = _read(ROOT / "assignments" / assignment / f"{assignment}.ipynb")
    source = _read(source_path(assignment))
    sol = {_grade_id(c): c for c in source.cells}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = "\n".join(line for line in sol[meta["grade_id"]].source.splitlines()
                                    if "### BEGIN SOLUTION" not in line
                                    and "### END SOLUTION" not in line)
    return nb


def buggy_notebook(assignment, grade_id, old, new):
    nb = student_notebook(assignment)
    (cell,) = [c for c in nb.cells if _grade_id(c) == grade_id]
    assert cell.source.count(old) == 1, f"{old!r} not found once in cell {grade_id}"
    cell.source = cell.source.replace(old, new)
    return nb


# -- the checks, without nbgrader -------------------------------------------------------
def _call_check(name, fn):
    grading.run(name, fn, {} if BEHAVIOURS[name].needs_namespace else None)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n == "train" else n  # trains on MNIST
    for n in sorted(BEHAVIOURS)])
def test_reference_passes_every_check(name):
    _call_check(name, getattr(reference, BEHAVIOURS[name].function))


def _rows_softmax_no_keepdims(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1)


def _relu_in_place(z):
    z[z < 0] = 0
    return z


def _shuffle_in_place(X, Y, batch_size, rng):
    rng.shuffle(X)
    for i in range(0, len(X), batch_size):
        yield X[i:i + batch_size], Y[i:i + batch_size]


def _sgd_new_arrays(params, grads, lr):
    for key, p in list(params.items()):
        params[key] = p - lr * grads[key]  # the bug: right values, but not in place


def _sgd_rebinding(params, grads, lr):
    for key, p in params.items():
        p = p - lr * grads[key]  # noqa: F841 (the bug: a new local array)


def _save_rounded(net, path):
    for p in net.params.values():  # the bug: the file holds the network, rounded in place
        p[...] = np.round(p, 2)
    reference.save_model(net, path)


def _batches_global_rng(X, Y, batch_size, rng):
    order = np.random.permutation(len(X))  # noqa: NPY002 (the bug: not the rng given)
    for i in range(0, len(X), batch_size):
        yield X[order[i:i + batch_size]], Y[order[i:i + batch_size]]


def _batches_fixed_seed(X, Y, batch_size, rng):
    order = np.random.default_rng(0).permutation(len(X))  # the bug: the same order each epoch
    for i in range(0, len(X), batch_size):
        yield X[order[i:i + batch_size]], Y[order[i:i + batch_size]]


# check, a student's function, words the message must contain
MISTAKE_CASES = {
    "sigmoid-itself": ("sigmoid_prime", reference.sigmoid, "sigma(z) itself"),
    "z-as-activation": ("sigmoid_prime", lambda z: z * (1 - z), "as if it were the activation"),
    "relu-kink": ("relu_prime", lambda z: (z >= 0).astype(float), "at z = 0 you return 1"),
    "relu-bool": ("relu_prime", lambda z: z > 0, "got dtype bool"),
    "relu-in-place": ("relu", _relu_in_place, "modified its input array in place"),
    "bce-sum": ("bce_with_logits", lambda a, y: reference.bce_with_logits(a, y) * len(a),
                "n times too large"),
    "bce-naive": ("bce_with_logits_stable",
                  lambda a, y: float(np.mean(-(y * np.log(1 / (1 + np.exp(-a)))
                                               + (1 - y) * np.log(1 - 1 / (1 + np.exp(-a)))))),
                  "overflow at large logits"),
    "bce-grad-sign": ("bce_with_logits_grad",
                      lambda a, y: -reference.bce_with_logits_grad(a, y), "sign error"),
    "dense-transposed": ("dense_forward", lambda A, W, b: A @ W.T + b, "transposed weights"),
    "dense-no-bias": ("dense_forward", lambda A, W, b: A @ W, "bias b is not added"),
    "softmax-keepdims": ("softmax", _rows_softmax_no_keepdims, "only works by broadcasting"),
    "softmax-columns": ("softmax", lambda Z: np.exp(Z) / np.exp(Z).sum(axis=0),
                        "each column sums to 1"),
    "softmax-global-shift": ("softmax_stable",
                             lambda Z: np.exp(Z - Z.max()) / np.exp(Z - Z.max()).sum(1)[:, None],
                             "needs its own shift"),
    "softmax-naive": ("softmax_stable", lambda Z: np.exp(Z) / np.exp(Z).sum(1, keepdims=True),
                      "overflow at large logits"),
    "dW-transposed": ("dense_backward_dW", lambda dZ, A, W: (dZ @ W.T, dZ.T @ A, dZ.sum(0)),
                      "transposed weights"),
    "dW-doubled-n": ("dense_backward_dW",
                     lambda dZ, A, W: (dZ @ W.T, A.T @ dZ / len(dZ), dZ.sum(0)),
                     "n times too small"),
    "dA-transposed": ("dense_backward_dA_prev", lambda dZ, A, W: (dZ @ W, A.T @ dZ, dZ.sum(0)),
                      "transposed weights"),
    "db-not-summed": ("dense_backward_db", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ),
                      "not summed over the batch"),
    "db-keepdims": ("dense_backward_db",
                    lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ.sum(0, keepdims=True)),
                    "only works by broadcasting"),
    "db-mean": ("dense_backward_db", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ.mean(0)),
                "averaged over the batch"),
    "sigmoid-backward-itself": ("sigmoid_backward", lambda dA, Z: dA * reference.sigmoid(Z),
                                "sigma(z) itself"),
    "ce-missing-n": ("softmax_cross_entropy_backward", lambda P, Y: P - Y, "n times too large"),
    "ce-sign": ("softmax_cross_entropy_backward", lambda P, Y: (Y - P) / len(P), "sign error"),
    "ce-dP": ("softmax_cross_entropy_backward", lambda P, Y: -Y / P / len(P),
              "returned dL/dP"),
    "sgd-sign": ("sgd_step", lambda params, grads, lr: [
        p.__iadd__(lr * grads[k]) for k, p in params.items()], "sign error"),
    "sgd-rebind": ("sgd_step", _sgd_rebinding, "did not change"),
    "sgd-new-arrays": ("sgd_step", _sgd_new_arrays, "is a new array after the step"),
    "batches-in-place": ("minibatches_cover", _shuffle_in_place, "in place"),
    "batches-unshuffled": ("minibatches_shuffled",
                           lambda X, Y, bs, rng: ((X[i:i + bs], Y[i:i + bs])
                                                  for i in range(0, len(X), bs)),
                           "original order"),
    "batches-global-rng": ("minibatches_shuffled", _batches_global_rng,
                           "use the rng argument"),
    "batches-fixed-seed": ("minibatches_shuffled", _batches_fixed_seed,
                           "two epochs with the same rng gave the same order"),
    "save-rounds-in-place": ("save_model", _save_rounded, "changed the network's parameters"),
}


@pytest.mark.parametrize("case", sorted(MISTAKE_CASES))
def test_check_names_the_mistake(case):
    name, fn, words = MISTAKE_CASES[case]
    with pytest.raises(grading.CheckFailed) as err:
        _call_check(name, fn)
    assert words in str(err.value)
    mistake = err.value.mistake  # the field the summary reads; the contract lists it
    assert mistake is None or mistake in BEHAVIOURS[name].mistakes, (name, mistake)
    assert mistake is None or MISTAKES[mistake] in str(err.value)


def test_explain_adds_the_diagnosis_to_a_visible_test():
    sigmoid_prime = reference.sigmoid  # the mistake
    with pytest.raises(grading.CheckFailed, match="(?s)should be 0.25.*sigma\\(z\\) itself"):
        with grading.explain("sigmoid_prime", sigmoid_prime):
            assert np.isclose(sigmoid_prime(0.0), 0.25), "sigmoid_prime(0) should be 0.25"


def test_isolation_restores_the_notebook_namespace():
    ns = {"softmax": "student's", "mlp_forward": reference.mlp_forward}
    grading.run("mlp_forward_output", lambda X, p, g: ns["mlp_forward"](X, p, g), ns)
    assert ns["softmax"] == "student's" and "dense_forward" not in ns


# -- the release ------------------------------------------------------------------------
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_or_hidden_test(assignment):
    released = (ROOT / "assignments" / assignment / f"{assignment}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in released
    rel_lines = {line.strip() for c in _read(ROOT / "assignments" / assignment
                                                 / f"{assignment}.ipynb").cells
                 for line in c.source.splitlines()}
    source = _read(source_path(assignment))
    secret, public = [], set()
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "markdown":
            secret += [line.strip() for line in cell.source.splitlines()]
        elif meta.get("solution"):
            secret += _solution_lines(cell.source)
        if "### BEGIN HIDDEN TESTS" in cell.source:
            hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN")[0]
            secret += [line.strip() for line in hidden.splitlines()]
        if not meta.get("solution") and "### BEGIN HIDDEN TESTS" not in cell.source:
            public |= {line.strip() for line in cell.source.splitlines()}
    # A line given to students elsewhere (the ps3 set-up repeats ps2's forward pass) is no leak.
    leaked = [line for line in secret
              if len(line) > 12 and line in rel_lines and line not in public]
    assert not leaked, f"{assignment} release shows solution or hidden-test lines: {leaked}"


def _normalised(path):
    nb = _read(path)
    volatile = {"execution", "collapsed", "scrolled", "trusted"}
    cells = []
    for c in nb.cells:
        meta = {k: v for k, v in c.metadata.items() if k not in volatile}
        cells.append((c.cell_type, c.source, json.dumps(meta, sort_keys=True)))
    return cells, nb.metadata.get("kernelspec")


def _myst(path):
    """A notebook as jupytext writes it in solutions/ (no jupytext version in the header)."""
    import jupytext

    text = jupytext.writes(jupytext.read(path), fmt="md:myst")
    return re.sub(r"\n    jupytext_version: .*", "", text, count=1)


def test_notebooks_agree_with_the_contract():
    """Each test cell is one behaviour of the contract: its points, its promise, its calls."""
    from bpcourse.grading.contract import by_cell

    seen = set()
    for path in driver.build_sources(ROOT):
        for cell in _read(path).cells:
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade") or meta.get("solution"):
                continue
            b = by_cell(meta["grade_id"])
            assert b is not None, f"test cell {meta['grade_id']} grades no behaviour"
            assert (b.assignment, b.points) == (path.stem, meta["points"]), b.name
            unit = "point" if b.points == 1 else "points"
            assert cell.source.splitlines()[0] == \
                f'"""{b.function}: {b.title} ({b.points} {unit})."""', b.name
            ns = ", ns=globals()" if b.needs_namespace else ""
            assert f'explain("{b.name}", {b.function}{ns})' in cell.source, b.name
            assert f'record("{b.name}", {b.function}{ns})' in cell.source, b.name
            seen.add(b.name)
    assert seen == set(BEHAVIOURS), "behaviours of the contract without a test cell"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_builds_into_an_nbgrader_notebook(assignment):
    """solutions/<a>/<a>.md builds into a stable nbgrader source notebook, and converts back."""
    from nbgrader.nbgraderformat import MetadataValidator

    md = ROOT / "solutions" / assignment / f"{assignment}.md"
    assert md.read_text().startswith("---\njupytext:\n  text_representation:\n")
    assert "format_name: myst" in md.read_text().split("\n---\n")[0]
    path = source_path(assignment)
    text, stamp = path.read_text(), path.stat().st_mtime_ns
    assert source_path(assignment).stat().st_mtime_ns == stamp, "rewritten though unchanged"
    nb = json.loads(text)
    assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 4)
    assert nb["metadata"] == {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                             "language": "python", "name": "python3"},
                              "language_info": {"name": "python"}}
    MetadataValidator().validate_nb(nbformat.reads(text, as_version=4))
    ids, points = [], 0
    for cell in nb["cells"]:
        assert "id" not in cell and set(cell["metadata"]) <= {"nbgrader"}, cell["metadata"]
        src = "".join(cell["source"])
        meta = cell["metadata"].get("nbgrader")
        if meta is None:  # a student's scratch cell: nothing graded or hidden in it
            assert "### BEGIN" not in src and cell["cell_type"] == "code"
            continue
        assert meta["schema_version"] == 3
        ids.append(meta["grade_id"])
        test = meta["grade"] and not meta["solution"]
        if meta["grade"]:
            assert meta["points"] > 0, meta
            points += meta["points"]
        if test:
            assert cell["cell_type"] == "code" and meta["locked"], meta
            assert src.startswith('"""') and "### BEGIN HIDDEN TESTS" in src, meta["grade_id"]
        else:
            assert "HIDDEN TESTS" not in src, meta["grade_id"]
        if meta["solution"] and cell["cell_type"] == "code":
            assert "### BEGIN SOLUTION" in src and not meta["locked"], meta["grade_id"]
    assert len(ids) == len(set(ids)), f"grade_id used twice in {assignment}"
    assert points == FULL[assignment]
    assert _myst(path) == md.read_text(), f"{md.name} does not survive md -> ipynb -> md"


@pytest.mark.slow
def test_committed_release_is_up_to_date(tmp_path):
    assert not driver.release(ROOT, out=tmp_path, quiet=True), "nbgrader generate_assignment failed"
    for assignment in ASSIGNMENTS:
        name = f"{assignment}/{assignment}.ipynb"
        assert (tmp_path / name).exists()
        assert _normalised(tmp_path / name) == _normalised(ROOT / "assignments" / name), (
            f"assignments/{name} is out of date with solutions/: run `make release` and "
            "commit assignments/")
    committed = sorted(p.relative_to(ROOT / "assignments").as_posix()
                       for p in (ROOT / "assignments").rglob("*.ipynb"))
    assert committed == [f"{a}/{a}.ipynb" for a in ASSIGNMENTS]


# -- one grading run --------------------------------------------------------------------
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "assignments", course / "assignments")
    staging = course / "staging"
    staging.mkdir()
    for a, source in zip(ASSIGNMENTS, driver.build_sources(course), strict=True):
        submit(course, "solution", source)
        submit(course, "release", ROOT / "assignments" / a / f"{a}.ipynb")
    for student, (a, grade_id, old, new, *_) in BUGS.items():
        path = staging / student / f"{a}.ipynb"
        path.parent.mkdir()
        nbformat.write(buggy_notebook(a, grade_id, old, new), path)
        submit(course, student, path)
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep
               + os.environ.get("PATH", ""))
    run = subprocess.run(
        [sys.executable, "-m", "bpcourse.grading", "--course", str(course), "grade",
         "--timeout", str(TIMEOUT)],
        cwd=course, env=env, capture_output=True, text=True, timeout=900)
    print(run.stdout[-5000:], run.stderr[-3000:])
    assert run.returncode == 0, run.stderr
    with open(course / "_grading" / "grades.csv", newline="") as f:
        grades = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    return course, run.stdout, grades


def _feedback(course, student, assignment):
    path = course / "_grading" / "feedback" / student / assignment / f"{assignment}.html"
    assert path.exists(), f"no feedback for {student}/{assignment}"
    return path.read_text()


def _summary_line(stdout, student, assignment):
    start = re.compile(rf"{re.escape(student)}\s+{assignment}\s")
    lines = [ln for ln in stdout.splitlines() if start.match(ln)]
    assert len(lines) == 1, f"summary line of {student}/{assignment} not found in:\n{stdout}"
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks(graded, assignment):
    course, stdout, grades = graded
    row = grades[("solution", assignment)]
    auto = FULL[assignment] - MANUAL.get(assignment, 0)
    assert float(row["max_score"]) == FULL[assignment]
    assert float(row["score"]) == auto, row
    line = _summary_line(stdout, "solution", assignment)
    assert line.rstrip().endswith("needs manual grading" if assignment in MANUAL else "none")
    html = _feedback(course, "solution", assignment)
    assert "CheckFailed" not in html
    autograded = course / "_grading" / "autograded" / "solution" / assignment
    assert driver.problems_of(autograded / f"{assignment}.ipynb") == []


@pytest.mark.slow
def test_manual_grade_completes_the_solution(graded):
    """The instructor grades the learning curve by the rubric; the export shows 13/13."""
    from nbgrader.api import Gradebook

    course, _, _ = graded
    with Gradebook(f"sqlite:///{course / '_grading' / 'gradebook.db'}") as gb:
        for grade_id in ("learning_curve", "learning_curve_comment"):
            g = gb.find_grade(grade_id, "ps4", "ps4", "solution")
            assert g.needs_manual_grade
            g.manual_score = g.max_score
        gb.db.commit()
    out = course / "_grading" / "after-manual.csv"
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep
               + os.environ.get("PATH", ""))
    subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--to={out}"], cwd=course,
                   env=env, check=True, capture_output=True)
    with open(out, newline="") as f:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    assert float(rows[("solution", "ps4")]["score"]) == 13


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_unmodified_release_gets_zero(graded, assignment):
    course, stdout, grades = graded
    assert float(grades[("release", assignment)]["score"]) == 0
    assert "not written" in _summary_line(stdout, "release", assignment)
    assert "not written yet" in _feedback(course, "release", assignment)


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(BUGS))
def test_buggy_submission_gets_partial_credit_and_named_mistake(graded, student):
    course, stdout, grades = graded
    assignment, grade_id, _, _, score, mistake = BUGS[student]
    line = _summary_line(stdout, student, assignment)
    assert float(grades[(student, assignment)]["score"]) == score, line
    html = _feedback(course, student, assignment)
    if mistake is None:  # the infinite loop: cut off, the rest graded
        assert "timed out" in line
        assert "KeyboardInterrupt" in html or "CellTimeoutError" in html
    else:
        assert mistake in line, line
        phrase = MISTAKES[mistake].split(". ")[0].removeprefix("Mistake: ")[:45]
        assert phrase in html, f"feedback of {student} does not say {phrase!r}"


@pytest.mark.slow
def test_every_submission_is_in_the_csv(graded):
    """nbgrader's CSV has a row per student and assignment; only submissions have a time."""
    course, stdout, grades = graded
    submitted = {("solution", a) for a in ASSIGNMENTS} | {("release", a) for a in ASSIGNMENTS}
    submitted |= {(s, spec[0]) for s, spec in BUGS.items()}
    students = {s for s, _ in submitted}
    assert set(grades) == {(s, a) for s in students for a in ASSIGNMENTS}
    assert {k for k, row in grades.items() if row["timestamp"]} == submitted
    assert all(float(row["score"]) == 0 for k, row in grades.items() if k not in submitted)
    assert f"autograding {len(submitted)} submission(s)" in stdout
    # The solution handed in as it is: flagged as a copy of the reference, never deducted.
    assert "similar: ps1 solution ~ reference 1.00" in stdout
    assert f"[{len(submitted)}/{len(submitted)}]" in stdout
