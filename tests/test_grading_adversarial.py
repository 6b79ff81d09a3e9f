"""Hostile submissions, graded in one run alongside honest ones (issue 6).

Each hostile submission is made here from the solution notebooks (as in
test_assignments.py): usually ps1 with one honest bug (``sigmoid_prime`` returning
sigma(z): 11 of 13 points) plus one attack. The attack must not raise the score above the
honest one, the summary must say what happened, the other submissions of the same run
must be graded correctly, and nothing outside the submission's scratch folder may change:
the course's solutions, the gradebook rows and feedback of a student graded before, the
course folder itself.
"""

import csv
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from support import submit
from test_assignments import ROOT, _grade_id, student_notebook

from bpcourse.grading import driver

pytestmark = pytest.mark.slow
TIMEOUT = 10  # seconds per cell: the honest ps1 cells take well under a second

BUG = ("sigmoid_prime", "s = sigmoid(z)\n    return s * (1 - s)", "return sigmoid(z)")
# A bug the visible tests miss: relu_prime(0) = 1 (12 of 13 points).
KINK = ("relu_prime", "(np.asarray(z) > 0)", "(np.asarray(z) >= 0)")


def _nb(assignment="ps1", bug=True, edits=(), after=None, cells=(), drop=None):
    """A submission: the solution, maybe the honest bug, answer edits, extra cells."""
    nb = student_notebook(assignment)
    for gid, old, new in ([BUG] if bug else []) + list(edits):
        (cell,) = [c for c in nb.cells if _grade_id(c) == gid]
        assert cell.source.count(old) == 1, (gid, old)
        cell.source = cell.source.replace(old, new)
    if cells:
        idx = [i for i, c in enumerate(nb.cells) if _grade_id(c) == after][0] + 1 \
            if after else len(nb.cells)
        for src in reversed(cells):
            cell = nbformat.v4.new_code_cell(src)
            cell.pop("id", None)  # nbformat 4.4 notebooks have no cell ids
            nb.cells.insert(idx, cell)
    if drop:
        nb.cells = [c for c in nb.cells if _grade_id(c) != drop]
    return nb


def _secret_probe(course):
    """A cell that tries to read secrets and write outside its scratch folder."""
    targets = [course / "solutions" / "ps1" / "ps1.md", ROOT / "solutions" / "ps1" / "ps1.md",
               course / "_grading" / "source" / "ps1" / "ps1.ipynb",
               course / "_grading" / "gradebook.db", ROOT / ".git" / "HEAD",
               course / "_grading" / "submitted" / "solution" / "ps1" / "ps1.ipynb",
               course / "_grading" / "feedback" / "victim" / "ps1" / "ps1.html",
               Path("/root/.bash_history"), Path("/etc/shadow")]
    writes = [course / "_grading" / "gradebook.db",
              course / "_grading" / "feedback" / "victim" / "ps1" / "ps1.html",
              course / "solutions" / "ps1" / "ps1.md",
              course / "_grading" / "source" / "ps1" / "ps1.ipynb",
              course / "PWNED", ROOT / "PWNED",
              Path("/var/tmp/PWNED")]
    return f'''
import os
for p in {[str(t) for t in targets]!r}:
    try:
        with open(p, "rb") as f:
            print("LEAK", p, f.read(40))
    except OSError as err:
        print("blocked read", type(err).__name__)
for p in {[str(w) for w in writes]!r}:
    try:
        with open(p, "ab") as f:
            f.write(b"pwned")
        print("WROTE", p)
    except OSError as err:
        print("blocked write", type(err).__name__)
print("listing", os.listdir({str(course)!r}) if os.path.isdir({str(course)!r}) else "hidden")
'''


FORK_BOMB = '''
import os, time
n = 0
for _ in range(5000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    n += 1
print("forked", n)
'''

FORK_ALLOCATE = '''
import os, time
pids = []
for _ in range(10):
    pid = os.fork()
    if pid == 0:
        try:
            x = np.ones(40_000_000)  # 320 MB each, 3.2 GB together: over the 2 GB cgroup
            time.sleep(2)
        finally:
            os._exit(0)
    pids.append(pid)
for p in pids:
    os.waitpid(p, 0)
'''

FORGE = '''
import json, os, socket, struct
# Ask the grader, from an ordinary cell, for relu_prime's check, as if its test cell ran.
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["BPCOURSE_CHANNEL"])
head = json.dumps({"op": "check", "name": "relu_prime", "via": "record"}).encode()
s.sendall(struct.pack(">II", len(head), 0) + head)
print(s.recv(1000))
s.close()
'''

JUNK = '''
import os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["BPCOURSE_CHANNEL"])
s.sendall(b"\\x00\\x00\\x00\\x05\\x00\\x00\\x00\\x00\\xff\\xfe garbage" + b"x" * 1000)
s.close()
'''

# An answer that reaches for an implementation of sigmoid_prime by every route a kernel has
# (never spelling "bpcourse" in an import); it falls back on the honest bug.
REACH = '''import importlib
import os
import pkgutil
import sys

HIT = "FO" + "UND"  # the word the test looks for, never spelled out in this source


def _found():
    names = ["bpcourse." + "activ" + "ations", "bpcourse.grading." + "refer" + "ence",
             "bpcourse.grading." + "checks", "bpcourse.m" + "lp"]
    for name in names:
        try:
            fn = getattr(importlib.import_module(name), "sigmoid_prime", None)
            if callable(fn):
                return fn, HIT + " import " + name
        except Exception:
            pass
    for mod in list(sys.modules.values()):
        fn = getattr(mod, "sigmoid_prime", None)
        if callable(fn) and getattr(mod, "__name__", "") != "__main__":
            return fn, HIT + " sys.modules " + mod.__name__
    pkg = sys.modules.get("bpcourse") or importlib.import_module("bp" + "course")
    for info in pkgutil.walk_packages(pkg.__path__, "bpcourse."):
        try:
            fn = getattr(importlib.import_module(info.name), "sigmoid_prime", None)
            if callable(fn):
                return fn, HIT + " pkgutil " + info.name
        except Exception:
            pass
    # The package's files, and its project folder, read by path (not the installed
    # libraries: an implementation there is not the course's).
    roots = list(pkg.__path__) + [os.path.dirname(p) for p in pkg.__path__]
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in (".venv", "site-packages")]
            for f in files:
                if not f.endswith(".py"):
                    continue
                try:
                    with open(os.path.join(dirpath, f), errors="replace") as fh:
                        src = fh.read()
                except Exception:
                    continue
                if "def sigmoid_prime" in src:
                    ns = {}
                    try:
                        exec(src, ns)
                        return ns["sigmoid_prime"], HIT + " file " + f
                    except Exception:
                        return None, HIT + " source " + f
    return None, "reached nothing"


_fn, _how = _found()
print(_how)


def sigmoid_prime(z):
    if _fn is not None:
        return _fn(z)
    return sigmoid(z)
'''


ALWAYS_EQUAL = '''
class Yes:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __array__(self, dtype=None, copy=None): raise TypeError("no")
    shape = property(lambda self: (2,))
    dtype = property(lambda self: np.dtype(float))
    def __getitem__(self, i): return 0.25


def sigmoid_prime(z):
    return Yes()
'''


def corpus(course):
    """student: (assignment, notebook, at most this score, words in the summary)."""
    return {
        "patch-numpy": ("ps1", _nb(cells=[
            "np.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
            "np.array_equal = lambda *a, **k: True"], after="sigmoid_prime"),
            11, "monkeypatching"),
        "patch-builtins": ("ps1", _nb(cells=[
            "import builtins\nbuiltins.abs = lambda x: 0\n"
            "builtins.all = lambda *a: True"], after="sigmoid_prime"), 11, "tampering"),
        "patch-checks": ("ps1", _nb(cells=[
            "import bpcourse.grading.checks as ch\nch._compare = lambda *a, **k: None\n"
            "ch._fail = lambda *a, **k: None"], after="sigmoid_prime"), 11, "tampering"),
        "patch-reference": ("ps1", _nb(cells=[
            "import bpcourse.grading.reference as ref\nimport bpcourse.activations as act\n"
            "ref.sigmoid_prime = act.sigmoid\nact.sigmoid_prime = act.sigmoid"],
            after="sigmoid_prime"), 11, "tampering"),
        "always-equal": ("ps1", _nb(bug=False, edits=[(
            "sigmoid_prime", "def sigmoid_prime(z):", ALWAYS_EQUAL + "\n\ndef _unused(z):")]),
            11, "test_sigmoid_prime"),
        "calls-reference": ("ps1", _nb(bug=False, edits=[(
            "sigmoid_prime", "s = sigmoid(z)\n    return s * (1 - s)",
            "from bpcourse.activations import sigmoid_prime as _ref\n    return _ref(z)")]),
            11, "reference use"),
        "redefines-elsewhere": ("ps1", _nb(cells=[
            "from bpcourse.activations import sigmoid_prime"], after="sigmoid_prime"),
            11, "defined in cells"),
        "edits-test-cell": ("ps1", _edited_test_cell(), 11, "metadata edited"),
        "deletes-test-cell": ("ps1", _nb(bug=False, drop="test_sigmoid"), 11, "deleted"),
        "fake-grade-cell": ("ps1", _fake_grade_cell(), 13, "unknown to the gradebook"),
        "forges-record": ("ps1", _nb(bug=False, edits=[KINK], cells=[FORGE],
                                     after="test_bce_with_logits_grad"), 12, "refused"),
        "reaches-reference": ("ps1", _reaching(), 11, "test_sigmoid_prime"),
        "lookup-table": ("ps1", _lookup_table(), 12, "test_relu_prime"),
        "reads-secrets": ("ps1", _nb(cells=[_secret_probe(course)], after="test_sigmoid"),
                          11, "test_sigmoid_prime"),
        "os-exit": ("ps1", _nb(cells=["import os\nos._exit(1)"], after="test_relu_prime"),
                    4, "crash"),
        "segfault": ("ps1", _nb(cells=["import ctypes\nctypes.string_at(0)"],
                                after="test_relu_prime"), 4, "segmentation fault"),
        "sleeps": ("ps1", _nb(bug=False, edits=[(
            "bce_with_logits_grad", "a = np.asarray(a, dtype=float)\n    return",
            "import time\n    time.sleep(10**6)\n    return")]), 11, "timeout"),
        "ignores-interrupt": ("ps1", _nb(bug=False, cells=[
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"],
            after="test_tanh_prime"), 8, "timeout"),
        "allocates-40gb": ("ps1", _nb(bug=False, cells=["x = np.ones(5 * 10**9)"],
                                      after="test_tanh_prime"), 13, "memory limit"),
        "fork-allocates": ("ps1", _nb(bug=False, cells=[FORK_ALLOCATE], after="test_tanh_prime"),
                           13, "memory limit"),
        "fork-bomb": ("ps1", _nb(bug=False, cells=[FORK_BOMB], after="test_tanh_prime"), 13,
                      "fork"),
        "floods-output": ("ps1", _nb(bug=False, cells=[
            "for _ in range(3000):\n    print('x' * 10000)"], after="test_tanh_prime"),
            13, "output flood"),
        "kills-everything": ("ps1", _nb(bug=False, cells=[
            "import os, signal\nos.kill(-1, signal.SIGKILL)"]), 13, "uses kill"),
        "junk-record": ("ps1", _nb(cells=[JUNK], after="test_sigmoid"), 11,
                        "junk on the grading channel"),
        "rich-flood": ("ps1", _nb(cells=[
            "from IPython.display import HTML, Image, display\n"
            "display(HTML('<b>' + 'x' * 300_000 + '</b>'))\n"
            "display(Image(data=b'\\x89PNG' + b'0' * 300_000, format='png'))"],
            after="test_tanh_prime"), 11, "output flood"),
        "lone-surrogate": ("ps1", _nb(cells=["print('\\udcff\\ud800 not UTF-8')"],
                                      after="test_relu"), 11, "test_sigmoid_prime"),
        "release": ("ps1", nbformat.read(ROOT / "assignments/ps1/ps1.ipynb", as_version=4), 0,
                    "not written"),
    }


def _reaching():
    nb = _nb(bug=False)
    (cell,) = [c for c in nb.cells if _grade_id(c) == "sigmoid_prime"]
    cell.source = REACH
    return nb


def _relu_prime_table():
    """The answers of relu_prime for the check's public inputs, as a student computes
    them at home: {input bytes (hex): output bytes (hex)}."""
    from bpcourse.grading import checks, reference

    table = {}

    def spy(z):
        out = reference.relu_prime(z)
        table[np.asarray(z).tobytes().hex()] = (out.tobytes().hex(), list(out.shape))
        return out

    checks.run("relu_prime", spy)
    return table


def _lookup_table():
    """relu_prime with the kink bug, plus a table of the hidden check's public answers."""
    table = _relu_prime_table()
    src = (f"_TABLE = {table!r}\n\n\ndef relu_prime(z):\n"
           "    z = np.asarray(z)\n"
           "    if z.tobytes().hex() in _TABLE:\n"
           "        data, shape = _TABLE[z.tobytes().hex()]\n"
           "        return np.frombuffer(bytes.fromhex(data)).reshape(shape)\n"
           "    return (np.asarray(z) >= 0).astype(float)\n")
    nb = _nb(bug=False)
    (cell,) = [c for c in nb.cells if _grade_id(c) == "relu_prime"]
    cell.source = src
    return nb


def test_the_lookup_table_would_pass_on_the_public_inputs():
    """The lookup-table submission is a real attack: at home it passes the hidden check."""
    from bpcourse.grading import checks

    (cell,) = [c for c in _lookup_table().cells if _grade_id(c) == "relu_prime"]
    ns = {"np": np}
    exec(cell.source, ns)
    checks.run("relu_prime", ns["relu_prime"])  # raises if it fails
    with pytest.raises(AssertionError):  # and its fallback is the kink bug
        checks.run("relu_prime", lambda z: (np.asarray(z) >= 0).astype(float))


def _edited_test_cell():
    nb = _nb()
    (cell,) = [c for c in nb.cells if _grade_id(c) == "test_sigmoid_prime"]
    cell.source = "pass"
    cell.metadata["nbgrader"]["points"] = 100
    return nb


def _fake_grade_cell():
    nb = _nb(bug=False)
    cell = nbformat.v4.new_code_cell("pass")
    cell.pop("id", None)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "locked": True,
                                 "points": 50, "schema_version": 3, "solution": False,
                                 "task": False}
    nb.cells.append(cell)
    return nb


# Patched comparisons in the kernel may break the student's own functions (np.allclose
# always true), so those behaviours may score less than the honest score.
# The OOM killer may pick the kernel itself rather than a child of the fork.
LOWER_OK = {"patch-numpy", "fork-allocates"}
HONEST = {("solution", "ps1"): 13, ("solution", "ps3"): 13, ("solution", "ps2"): 9}


def _hash_tree(path):
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _victim_rows(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / '_grading' / 'gradebook.db'}") as gb:
        sub = gb.find_submission("ps1", "victim")
        return sub.score, sorted((g.name, g.auto_score) for nb in sub.notebooks
                                 for g in nb.grades)


def _snapshot(course):
    return {
        "solutions": _hash_tree(course / "solutions"),
        "root solutions": _hash_tree(ROOT / "solutions"),
        "source": _hash_tree(course / "_grading" / "source"),
        "victim feedback": _hash_tree(course / "_grading" / "feedback" / "victim"),
        "victim autograded": _hash_tree(course / "_grading" / "autograded" / "victim"),
        "victim grades": _victim_rows(course),
        "course files": sorted(p.name for p in course.iterdir()),
        "config": (course / "nbgrader_config.py").read_bytes(),
    }


def _run(course, *extra):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep
               + os.environ.get("PATH", ""))
    run = subprocess.run([sys.executable, "-m", "bpcourse.grading", "--course", str(course),
                          "grade", "--timeout", str(TIMEOUT), *extra],
                         cwd=course, env=env, capture_output=True, text=True, timeout=1200)
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    course = tmp_path_factory.mktemp("hostile")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "assignments", course / "assignments")
    sources = {p.stem: p for p in driver.build_sources(course)}
    submit(course, "victim", sources["ps1"])
    _run(course)  # the victim is graded first; the hostile run must leave it alone
    before = _snapshot(course)
    staging = course.parent / (course.name + "-staging")
    cases = corpus(course)
    for student, (a, nb, *_) in cases.items():
        path = staging / student / f"{a}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        submit(course, student, path)
    for student, a in HONEST:
        submit(course, student, sources[a])
    for student, (edit, *_) in ODD.items():  # the honest bug, then the folder changed
        path = staging / student / "ps1.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(_nb(), path)
        edit(submit(course, student, path), course)
    stdout = _run(course)
    with open(course / "_grading" / "grades.csv", newline="") as f:
        grades = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    return course, cases, stdout, grades, before, _snapshot(course)


def _misnamed(folder, course):
    (folder / "ps1.ipynb").rename(folder / "ps1-final.ipynb")


def _linked(folder, course):
    (folder / "ps1.ipynb").unlink()
    (folder / "ps1.ipynb").symlink_to(course / "_grading" / "source" / "ps1" / "ps1.ipynb")


def _not_a_notebook(folder, course):
    (folder / "ps1.ipynb").write_bytes(b'{"cells": [\xff not json')


def _extra_files(folder, course):
    # Next to the notebook, these would shadow the modules the kernel imports.
    (folder / "numpy.py").write_text("raise SystemExit('the fake numpy was imported')\n")
    (folder / "bpcourse").mkdir()
    (folder / "bpcourse" / "__init__.py").write_text("raise SystemExit('fake bpcourse')\n")


def _oversized(folder, course):
    with open(folder / "big.bin", "wb") as f:
        f.truncate(51 << 20)  # past the 50 MB a submission folder may hold


# Odd hand-ins: student -> (what is done to the submitted folder, score, summary words).
ODD = {
    "misnamed": (_misnamed, 0, "ps1.ipynb missing; found ps1-final.ipynb"),
    "linked": (_linked, 0, "ps1.ipynb is a symbolic link"),
    "not-a-notebook": (_not_a_notebook, 0, "ps1.ipynb is not a valid notebook"),
    "extra-files": (_extra_files, 11, "ignored 2 other file(s) next to the notebook"),
    "oversized": (_oversized, 0, "more than 50 MB"),
}


@pytest.mark.parametrize("student", sorted(ODD))
def test_odd_handin_gets_a_clear_line_and_no_point_it_did_not_earn(hostile, student):
    course, _, stdout, grades, _, _ = hostile
    _, score, words = ODD[student]
    line = _line(stdout, student, "ps1")
    assert words in line, line
    assert float(grades[(student, "ps1")]["score"]) == score, line  # in the CSV too
    autograded = course / "_grading" / "autograded" / student / "ps1"
    assert sorted(p.name for p in autograded.glob("*")) == (
        ["ps1.ipynb", "timestamp.txt"] if score else [])


def _line(stdout, student, assignment):
    start = re.compile(rf"{re.escape(student)}\s+{assignment}\s")
    lines = [ln for ln in stdout.splitlines() if start.match(ln)]
    assert len(lines) == 1, stdout
    return lines[0]


CASES = sorted(corpus(Path("/nonexistent")))


@pytest.mark.parametrize("student", CASES)
def test_hostile_submission_earns_no_more_than_its_honest_score(hostile, student):
    course, cases, stdout, grades, _, _ = hostile
    a, _, score, words = cases[student]
    line = _line(stdout, student, a)
    got = float(grades[(student, a)]["score"])
    assert got <= score, line
    if student not in LOWER_OK:
        assert got == score, line
    assert words in line, line
    nb = json.loads((course / "_grading" / "autograded" / student / a / f"{a}.ipynb").read_text())
    printed = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    assert "LEAK" not in printed and "WROTE" not in printed and "FOUND" not in printed
    html = (course / "_grading" / "feedback" / student / a / f"{a}.html").read_text()
    for secret in ("BEGIN HIDDEN TESTS", "record(", "check_sigmoid", "bpcourse/grading"):
        assert secret not in html, f"{secret!r} in the feedback of {student}"


@pytest.mark.parametrize("pair", sorted(HONEST))
def test_honest_submissions_in_the_same_run_are_graded_right(hostile, pair):
    course, _, stdout, grades, _, _ = hostile
    auto = HONEST[pair]
    assert float(grades[pair]["score"]) == auto
    assert _line(stdout, *pair).rstrip().endswith("none")


def test_nothing_outside_the_scratch_folder_changed(hostile):
    course, _, stdout, _, before, after = hostile
    assert after == before
    assert not (ROOT / "PWNED").exists() and not Path("/var/tmp/PWNED").exists()
    probe = (course / "_grading" / "autograded" / "reads-secrets" / "ps1"
             / "ps1.ipynb").read_text()
    assert "blocked read" in probe and "blocked write" in probe and "hidden" in probe


def test_no_route_in_the_kernel_reaches_an_implementation(hostile):
    """Every route the reaching answer tries (computed imports, sys.modules, pkgutil, the
    package's files by path) finds nothing: the kernel's bpcourse is the ps1 view."""
    course = hostile[0]
    nb = (course / "_grading" / "autograded" / "reaches-reference" / "ps1" / "ps1.ipynb")
    assert "reached nothing" in nb.read_text()


def test_no_process_of_a_grading_user_survives(hostile):
    """No grading user whose slot is free (held by no grading run) has a live process."""
    import fcntl

    from bpcourse.grading.sandbox import LOCKS, _pids_of

    users = {int(p.pw_name[7:]): p.pw_uid for p in pwd.getpwall()
             if re.fullmatch(r"bpgrade\d+", p.pw_name)}
    assert users
    left = []
    for slot, uid in users.items():
        fd = os.open(os.path.join(LOCKS, f"slot-{slot}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no run grades in it
            left += _pids_of(uid)
        except OSError:
            pass  # another grading run on this machine holds it
        finally:
            os.close(fd)
    assert not left


def test_every_feedback_hides_the_hidden_tests(hostile):
    course = hostile[0]
    pages = list((course / "_grading" / "feedback").rglob("*.html"))
    assert len(pages) >= len(CASES)
    for page in pages:
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "record(" not in text, page


def test_events_are_in_the_notebook_metadata(hostile):
    course = hostile[0]
    nb = json.loads((course / "_grading" / "autograded" / "segfault" / "ps1" / "ps1.ipynb")
                    .read_text())
    assert any("segmentation fault" in e for e in nb["metadata"]["bpcourse_grading"]["events"])
