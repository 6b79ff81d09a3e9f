"""Grade ONE submission in a grading slot, and hand back plain data: the Dask task.

A *slot* is what one Dask worker process holds for its whole life (``SlotPlugin``, a
Dask worker plugin): a private copy of the course's grading folder (its
``nbgrader_config.py`` and a copy of the gradebook that knows the assignments), the
sandbox slot of this machine (its grading user and cgroups, ``sandbox.acquire_slot``) and
one nbgrader API. ``grade(submission)`` runs nbgrader's autograde (with the hardened
preprocessors of ``preprocessors/``, the kernel in the sandbox) and generate_feedback in the
slot, and returns a ``Graded``: the scores of every cell, the autograded notebook and
the feedback HTML as bytes. Only the client (``driver.grade``) writes the course's
gradebook, feedback folder and CSV, so the gradebook stays nbgrader's single-writer
SQLite.

A worker whose course checkout or Python environment differs from the client's is
refused (``environment`` and ``differences``): its plugin holds no slot and says why.
"""

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox
from .driver import GRADING, course_config  # the grading folder, as nbgrader_config.py has it

PLUGIN = "bpcourse-grading"  # the worker plugin's name
# The Dask resource a worker holding a grading slot offers: one submission at a time. Tasks
# ask for it instead of naming workers, because the scheduler pins named workers to their
# addresses, and a worker restarted by the watchdog comes back at another address.
SLOT = "bpcourse_slot"
EVENTS = "bpcourse-grading"  # the topic of the task's start events (retries are counted)


@dataclass
class Submission:
    """One student's hand-in of one assignment: the files of its folder, as bytes."""

    student: str
    assignment: str
    files: dict  # path relative to the submission folder -> bytes
    run: str = ""  # which grading run it belongs to (its start events name it)


@dataclass
class Graded:
    """What the gradebook, the feedback folder and the summary need of one submission."""

    student: str
    assignment: str
    ok: bool  # nbgrader autograded it and wrote its feedback
    problem: str = ""  # why not, for the summary
    timestamp: str | None = None
    grades: list = field(default_factory=list)  # {notebook, name, auto_score, ...}
    comments: list = field(default_factory=list)  # {notebook, name, auto_comment}
    notebooks: list = field(default_factory=list)  # {name, flagged, late_submission_penalty}
    autograded: dict = field(default_factory=dict)  # relative path -> bytes
    feedback: dict = field(default_factory=dict)  # relative path -> bytes
    log: str = ""
    worker: str = ""
    seconds: float = 0.0


# -- the environment a worker grades in ------------------------------------------------
def environment():
    """What must be equal on the client and every worker: the course commit, the
    package's code, Python and the installed distributions."""
    package = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    code = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        code.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    dists = sorted(f"{d.metadata['Name']}=={d.version}"
                   for d in importlib.metadata.distributions() if d.metadata["Name"])
    return {"commit": commit or "not a git checkout", "code": code.hexdigest()[:16],
            "python": sys.version.split()[0], "packages": dists}


def differences(mine, theirs):
    """Why a worker's environment is not the client's, in words; "" when they agree."""
    out = []
    if mine["commit"] != theirs["commit"]:
        out.append(f"course commit {theirs['commit'][:12]} (the client has "
                   f"{mine['commit'][:12]})")
    elif mine["code"] != theirs["code"]:
        out.append("the bpcourse package's files differ from the client's (uncommitted "
                   "edits?)")
    if mine["python"] != theirs["python"]:
        out.append(f"Python {theirs['python']} (the client has {mine['python']})")
    extra = sorted(set(theirs["packages"]) - set(mine["packages"]))
    missing = sorted(set(mine["packages"]) - set(theirs["packages"]))
    if extra or missing:
        out.append("another virtual environment (" + ", ".join(
            [f"has {p}" for p in extra[:3]] + [f"lacks {p}" for p in missing[:3]]) + ")")
    return "; ".join(out)


# -- the slot ----------------------------------------------------------------------------
class Slot:
    """A private grading folder, a sandbox slot and an nbgrader API, for one process."""

    def __init__(self, config, gradebook, course_root, key=""):
        self.key = key  # the course's secret: the checks' inputs are drawn from it
        self.dir = Path(tempfile.mkdtemp(prefix="bpcourse-slot-"))
        (self.dir / GRADING).mkdir()
        (self.dir / "nbgrader_config.py").write_text(config)
        (self.dir / GRADING / "gradebook.db").write_bytes(gradebook)
        # The sandbox hides the client's course folder from the kernel (preprocessors/execute.py).
        os.environ["BPCOURSE_COURSE_ROOT"] = str(course_root)
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        self.sandbox = sandbox.acquire_slot() if sandbox.available()[0] else -1
        self._apis = {}

    def _api(self, timeout):
        if timeout not in self._apis:
            from nbgrader.apps import NbGraderAPI

            config = course_config(self.dir)
            if timeout:
                config.ExecutePreprocessor.timeout = int(timeout)
            if self.key:
                config.SandboxedExecute.grading_key = self.key
            self._apis[timeout] = NbGraderAPI(config=config)
        return self._apis[timeout]

    def grade(self, sub, timeout=None):
        """Autograde and write the feedback of one submission: a ``Graded``."""
        t0 = time.perf_counter()
        folders = {kind: self.dir / GRADING / kind / sub.student / sub.assignment
                   for kind in ("submitted", "autograded", "feedback")}
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
        for rel, data in sub.files.items():
            path = (folders["submitted"] / rel).resolve()
            if folders["submitted"].resolve() not in path.parents:
                continue  # the driver sends relative paths only; never write elsewhere
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        api = self._api(timeout)
        with warnings.catch_warnings():  # nbgrader trips SQLAlchemy's warnings
            warnings.simplefilter("ignore")
            res = api.autograde(sub.assignment, sub.student, force=True, create=True)
            ok = bool(res.get("success"))
            log = res.get("log", "") + (res.get("error") or "")
            if ok:
                fb = api.generate_feedback(sub.assignment, sub.student, force=True)
                log += fb.get("log", "") + (fb.get("error") or "")
                ok = bool(fb.get("success"))
            graded = self._collect(sub, ok, log)
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
        graded.seconds = time.perf_counter() - t0
        return graded

    def _collect(self, sub, ok, log):
        from nbgrader.api import Gradebook, MissingEntry

        g = Graded(sub.student, sub.assignment, ok, log=log[-20000:])
        if not ok:
            g.problem = "not graded: nbgrader reported an error (see _grading/logs/)"
        for kind in ("autograded", "feedback"):
            folder = self.dir / GRADING / kind / sub.student / sub.assignment
            files = {str(p.relative_to(folder)): p.read_bytes()
                     for p in sorted(folder.rglob("*")) if p.is_file()} if folder.is_dir() else {}
            setattr(g, kind, files)
        with Gradebook(f"sqlite:///{self.dir / GRADING / 'gradebook.db'}") as gb:
            try:
                s = gb.find_submission(sub.assignment, sub.student)
            except MissingEntry:
                g.ok, g.problem = False, "not graded: nbgrader failed (see _grading/logs/)"
                return g
            g.timestamp = s.timestamp.isoformat() if s.timestamp else None
            for nb in s.notebooks:
                g.notebooks.append({"name": nb.name, "flagged": nb.flagged,
                                    "late_submission_penalty": nb.late_submission_penalty})
                g.grades += [{"notebook": nb.name, "name": x.name, "auto_score": x.auto_score,
                              "manual_score": x.manual_score, "extra_credit": x.extra_credit,
                              "needs_manual_grade": x.needs_manual_grade} for x in nb.grades]
                g.comments += [{"notebook": nb.name, "name": c.name,
                                "auto_comment": c.auto_comment} for c in nb.comments]
        return g

    def close(self):
        if self.sandbox >= 0:
            sandbox.kill_user(sandbox.user(self.sandbox).pw_uid)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- Dask ------------------------------------------------------------------------------
try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - distributed is in the grading extra
    WorkerPlugin = object


class SlotPlugin(WorkerPlugin):
    """Gives each Dask worker its slot for life, or refuses a worker that differs."""

    name = PLUGIN

    def __init__(self, config, gradebook, course_root, client_env, key=""):
        self.config, self.gradebook, self.key = config, gradebook, key
        self.course_root, self.client_env = str(course_root), client_env
        self.slot, self.refused = None, ""

    async def setup(self, worker):
        self.refused = differences(self.client_env, environment())
        if not self.refused:
            self.slot = Slot(self.config, self.gradebook, self.course_root, self.key)
            await worker.set_resources(**{SLOT: 1})  # after a restart too: plugins re-run

    async def teardown(self, worker):
        if self.slot is not None:
            await worker.set_resources(**{SLOT: 0})  # a later run may refuse this worker
            self.slot.close()


def status(dask_worker):
    """(worker name, why it is refused or "", why it grades without the sandbox or "")
    for ``client.run``; the name as Dask has it (an int in a LocalCluster), for
    ``client.submit(workers=...)``, which a restarted worker keeps while its address
    changes."""
    sandboxed, why = sandbox.available()
    plugin = dask_worker.plugins.get(PLUGIN)
    if plugin is None:
        return dask_worker.name, "the grading plugin is not set up", ""
    return dask_worker.name, plugin.refused, "" if sandboxed else why


def grade_task(sub, timeout=None):
    """The Dask task: grade ``sub`` in this worker's slot."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins[PLUGIN]
    if plugin.slot is None:
        raise RuntimeError(f"worker {worker.name} may not grade: {plugin.refused}")
    worker.log_event(EVENTS, {"student": sub.student, "assignment": sub.assignment,
                              "run": sub.run, "name": str(worker.name),
                              "pid": os.getpid()})  # Dask adds "worker": the address
    graded = plugin.slot.grade(sub, timeout)
    graded.worker = str(worker.name)
    return graded
