"""The bubblewrap sandbox a graded kernel runs in (issue 15, "The network and other processes").

A kernel started by ``SandboxedExecute`` (one notebook, no nbgrader) or by a real
``make grade``-style batch (the driver, as test_grading_adversarial.py runs it) must:

* reach nothing over the network: a TCP listener this test opens on 127.0.0.1 and on the
  machine's other addresses sees no connection, and the honest cells still score;
* see only the sandbox's own few processes, and no command line or environment of the
  grader's;
* find no course folder, ``_grading/``, ``solutions/``, git history or grader's temporary
  file, while numpy, the ``bpcourse`` package and the MNIST cache work;
* run as its slot's unprivileged user with no capability and only ``lo``;
* die with its grader (a SIGKILLed grader leaves no kernel behind);
and without bubblewrap the summary's first line must say grading was not sandboxed.
"""

import csv
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from support import submit
from test_assignments import ROOT, _grade_id

from bpcourse.grading import driver, sandbox
from bpcourse.grading.preprocessors import SandboxedExecute

pytestmark = pytest.mark.slow
TIMEOUT = 10  # seconds per cell


@pytest.fixture
def sandboxed():
    ok, why = sandbox.available()
    if not ok:
        pytest.skip(f"the grading sandbox is not available here: {why}")


def _kernel(tmp_path, monkeypatch, *sources):
    """Run cells in a sandboxed kernel (SandboxedExecute alone): each cell's stdout."""
    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb, res = SandboxedExecute(timeout=TIMEOUT).preprocess(nb, {})
    assert not any("no sandbox" in e for e in res["bpcourse"]["events"])
    outs = []
    for cell in nb.cells:
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, errors
        outs.append("".join(o.get("text", "") for o in cell.outputs))
    return outs


def _json_cell(body):
    """A cell that runs body (which fills ``out``) and prints ``out`` as JSON."""
    return "import json, os\nout = {}\n" + body + "\nprint(json.dumps(out))"


# -- (b) processes ---------------------------------------------------------------------------
PROCESSES = r"""
out["self"] = os.getpid()
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["cmdlines"], out["environs"] = {}, {}
for p in out["pids"]:
    for what in ("cmdline", "environ"):
        try:
            with open(f"/proc/{p}/{what}", "rb") as f:
                out[what + "s"][p] = f.read().decode("utf-8", "replace")
        except OSError as err:
            out[what + "s"][p] = "unreadable " + type(err).__name__
"""


def test_kernel_sees_only_the_sandbox_processes(sandboxed, tmp_path, monkeypatch):
    secret = secrets.token_hex(8)
    monkeypatch.setenv("BPCOURSE_GRADER_SECRET", secret)  # in the grader's environment
    (out,) = _kernel(tmp_path, monkeypatch, _json_cell(PROCESSES))
    got = json.loads(out)
    # bwrap's reaper (PID 1) and the kernel; on the host this is hundreds of processes.
    assert len(got["pids"]) <= 3 and got["self"] in got["pids"], got["pids"]
    for p, environ in got["environs"].items():
        assert secret not in environ
        if int(p) != got["self"]:  # another user's (root's) environment stays closed
            assert environ.startswith("unreadable"), (p, environ[:200])
    own = got["environs"][str(got["self"])]
    assert "BPCOURSE_CHANNEL" in own and "BPCOURSE_SANDBOX" not in own
    for cmdline in got["cmdlines"].values():
        assert secret not in cmdline
        for grader in ("pytest", "nbgrader", "distributed", str(tmp_path)):
            assert grader not in cmdline, cmdline


# -- (c) files -------------------------------------------------------------------------------
FILES = r"""
out["absent"] = {}
for p in PATHS:
    try:
        if os.path.isdir(p):
            out["absent"][p] = "listed " + ",".join(sorted(os.listdir(p))[:5])
        else:
            with open(p, "rb") as f:
                out["absent"][p] = "read " + repr(f.read(20))
    except OSError as err:
        out["absent"][p] = "blocked " + type(err).__name__
import numpy as np, bpcourse
out["numpy"] = float(np.ones(4) @ np.ones(4))
out["package"] = bpcourse.__file__  # the package, or the view graded kernels get in its place
home = os.environ["BPCOURSE_DATA"]  # the MNIST cache, as the sandbox hands it over
out["home"] = home
out["data"] = {n: open(os.path.join(home, n), "rb").read(64).hex()
               for n in sorted(os.listdir(home))[:3] if os.path.isfile(os.path.join(home, n))}
try:
    open(os.path.join(os.path.dirname(bpcourse.__file__), "PWNED"), "w")
    out["package_writable"] = True
except OSError:
    out["package_writable"] = False
"""


def test_course_and_history_are_absent_the_tools_are_there(sandboxed, tmp_path, monkeypatch):
    from bpcourse.mnist import data_home

    course = tmp_path / "course"  # a course as make grade has it, next to the test's cwd
    (course / "_grading" / "submitted" / "someone" / "ps1").mkdir(parents=True)
    (course / "_grading" / "gradebook.db").write_bytes(b"SQLite format 3\0 secret")
    (course / "solutions" / "ps1").mkdir(parents=True)
    (course / "solutions" / "ps1" / "ps1.md").write_text("secret solution")
    fd, grader_tmp = tempfile.mkstemp(prefix="bpcourse-grader-secret-")  # the grader's temp
    os.write(fd, b"secret")
    os.close(fd)
    paths = [str(course), str(course / "_grading" / "gradebook.db"),
             str(course / "solutions" / "ps1" / "ps1.md"), str(ROOT / "solutions"),
             str(ROOT / "_grading"), str(ROOT / ".git"), str(ROOT / ".git" / "HEAD"),
             str(ROOT / "tests"), str(ROOT / "nbgrader_config.py"), grader_tmp,
             "/home", "/root/.bash_history", "/etc/shadow", "/var/lib/bpcourse-grading"]
    assert all(os.path.exists(p) for p in paths[:10])  # on the host they are there
    try:
        (out,) = _kernel(tmp_path, monkeypatch, f"PATHS = {paths!r}\n" + _json_cell(FILES))
    finally:
        os.unlink(grader_tmp)
    got = json.loads(out)
    for p in paths:
        assert got["absent"][p].startswith("blocked"), (p, got["absent"][p])
    assert got["numpy"] == 4.0
    assert got["package"] == str(ROOT / "bpcourse" / "__init__.py")
    assert got["package_writable"] is False
    home = str(data_home())
    assert got["home"] == home
    want = {n: open(os.path.join(home, n), "rb").read(64).hex()
            for n in sorted(os.listdir(home))[:3] if os.path.isfile(os.path.join(home, n))}
    assert want, f"no MNIST cache in {home} (make data)"
    assert got["data"] == want  # the MNIST cache: there, and the same bytes


# -- (d) user, capabilities, network -------------------------------------------------------
IDENTITY = r"""
import socket
out["uid"], out["gid"], out["groups"] = os.getresuid(), os.getresgid(), os.getgroups()
with open("/proc/self/status") as f:
    out["status"] = dict(ln.split(":\t", 1) for ln in f.read().splitlines() if ":\t" in ln)
out["interfaces"] = sorted(name for _, name in socket.if_nameindex())
out["hostname"] = socket.gethostname()
"""


def test_kernel_runs_as_the_slot_user_with_no_capabilities(sandboxed, tmp_path, monkeypatch):
    (out,) = _kernel(tmp_path, monkeypatch, _json_cell(IDENTITY))
    got = json.loads(out)
    pw = sandbox.user(sandbox.acquire_slot())  # this process's slot: the kernel's user
    assert pw.pw_uid != 0
    assert got["uid"] == [pw.pw_uid] * 3 and got["gid"] == [pw.pw_gid] * 3
    assert got["groups"] == []
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(got["status"][cap], 16) == 0, (cap, got["status"][cap])
    assert got["status"]["NoNewPrivs"].strip() == "1"
    assert got["interfaces"] == ["lo"]
    assert got["hostname"] != socket.gethostname()


# -- (e) die with the grader ----------------------------------------------------------------
GRADER = r"""
import nbformat, sys
from bpcourse.grading.preprocessors import SandboxedExecute
nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_code_cell(
    "import os, time\n"
    "open(os.path.join(os.path.dirname(os.environ['BPCOURSE_CHANNEL']), 'started'), 'w')\n"
    "time.sleep(600)")]
SandboxedExecute(timeout=600).preprocess(nb, {})
"""


def _pids_mentioning(text):
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(p))
            except OSError:
                pass
    return found


def test_kernel_dies_with_its_grader(sandboxed):
    tmp = tempfile.mkdtemp(prefix="bpsbx-")  # short: the kernel's sockets live below it
    grader = subprocess.Popen([sys.executable, "-c", GRADER], cwd=tmp,
                              env=dict(os.environ, TMPDIR=tmp))
    pids = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            started = list(Path(tmp).glob("bpcourse-grading-*/k/started"))
            if started:
                break
            assert grader.poll() is None, "the grader ended before its kernel started"
            time.sleep(0.2)
        else:
            pytest.fail("the kernel did not start")
        channel = str(started[0].parent)
        pids = _pids_mentioning(channel)  # bwrap, its reaper, the kernel
        uids = {os.stat(f"/proc/{p}").st_uid for p in pids}
        assert len(pids) >= 2 and any(u != 0 for u in uids), (pids, uids)
        grader.send_signal(signal.SIGKILL)
        grader.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and [p for p in pids if _alive(p)]:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)], "the kernel outlived its grader"
    finally:
        if grader.poll() is None:
            grader.kill()
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- real batches: (a) the network, (f) no bubblewrap ---------------------------------------
def _addresses():
    """127.0.0.1 and this machine's other IPv4 addresses."""
    found = {"127.0.0.1"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:  # SIOCGIFADDR
                req = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
                found.add(socket.inet_ntoa(req[20:24]))
            except OSError:
                pass
    return sorted(found)


class Listeners:
    """TCP listeners on every address; ``.seen``: the peers that connected."""

    def __init__(self):
        self.socks, self.seen = [], []
        for addr in _addresses():
            s = socket.socket()
            s.bind((addr, 0))
            s.listen(16)
            s.settimeout(0.2)
            self.socks.append(s)
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def targets(self):
        return [s.getsockname() for s in self.socks]

    def _accept(self):
        while not self._stop:
            for s in self.socks:
                try:
                    conn, peer = s.accept()
                    self.seen.append((s.getsockname(), peer))
                    conn.close()
                except OSError:
                    pass

    def close(self):
        self._stop = True
        self._thread.join(5)
        for s in self.socks:
            s.close()


CONNECT = '''import socket as _socket
for _addr in {targets!r}:
    try:
        _socket.create_connection(tuple(_addr), timeout=2).close()
        print("CONNECTED", _addr)
    except OSError as _err:
        print("blocked", _addr, type(_err).__name__)
'''


def _course(tmp_path, students):
    """A course with the ps1 solution built; students: {name: notebook}."""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    (source,) = driver.build_sources(course, ["ps1"])
    for student, edit in students.items():
        nb = nbformat.read(source, as_version=4)
        edit(nb)
        path = tmp_path / "staging" / student / "ps1.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        submit(course, student, path)
    return course


def _grade(course):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep
               + os.environ.get("PATH", ""))
    run = subprocess.run([sys.executable, "-m", "bpcourse.grading", "--course", str(course),
                          "grade", "--timeout", str(TIMEOUT), "--workers", "1"],
                         cwd=course, env=env, capture_output=True, text=True, timeout=900)
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert run.returncode == 0, run.stderr
    with open(course / "_grading" / "grades.csv", newline="") as f:
        scores = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    return run.stdout, scores


def _outputs(course, student):
    path = course / "_grading" / "autograded" / student / "ps1" / "ps1.ipynb"
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_answer_cell_reaches_no_listener_and_honest_cells_score(sandboxed, tmp_path):
    listeners = Listeners()
    targets = listeners.targets
    try:
        assert len(targets) >= 1
        for target in targets:  # the listeners work: from here they are reached
            socket.create_connection(target, timeout=2).close()
        deadline = time.monotonic() + 5
        while len(listeners.seen) < len(targets) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(listeners.seen) == len(targets)
        listeners.seen.clear()

        def connects(nb):  # the honest solution, its sigmoid cell calling out first
            (cell,) = [c for c in nb.cells if _grade_id(c) == "sigmoid"]
            cell.source = CONNECT.format(targets=targets) + cell.source

        course = _course(tmp_path, {"connects": connects, "honest": lambda nb: None})
        stdout, scores = _grade(course)
        assert "GRADING WAS NOT SANDBOXED" not in stdout
        time.sleep(0.5)
        assert listeners.seen == []
    finally:
        listeners.close()
    printed = _outputs(course, "connects")
    assert printed.count("blocked") == len(targets) and "CONNECTED" not in printed
    assert scores["connects"] == scores["honest"] == 13


def test_without_bubblewrap_the_summary_says_not_sandboxed(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("as root only: without root the reason is 'not running as root'")
    monkeypatch.setenv(sandbox.BWRAP, str(tmp_path / "no-such-bwrap"))  # bubblewrap missing
    course = _course(tmp_path, {"honest": lambda nb: None})
    stdout, scores = _grade(course)
    lines = stdout.splitlines()
    (i,) = [n for n, ln in enumerate(lines) if "GRADING WAS NOT SANDBOXED" in ln]
    assert "no bubblewrap (apt install bubblewrap)" in lines[i]
    assert lines[i - 1] == "" and lines[i + 1].startswith("student")  # the summary's first
    assert scores["honest"] == 13  # graded all the same, over the same ipc channel
