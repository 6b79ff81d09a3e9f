"""nbgrader preprocessors that make autograding hold against hostile submissions.

``configure(c)`` (called by ``nbgrader_config.py``) puts them into ``nbgrader autograde``:

sanitize: ``GuardCells`` (first) notes test cells that were deleted, duplicated or whose
    metadata was edited, and drops grading metadata from cells the gradebook does not
    know; nbgrader's ``OverwriteCells`` then restores every test cell from the gradebook.
autograde: ``SandboxedExecute`` runs the notebook in the sandbox (``sandbox.py``) with a
    cap on each cell's output, keeps the cells already run when the kernel dies and skips
    the rest, and stops a kernel that no longer answers; ``GraderVerdict`` then decides
    every test cell in the grader's process: it replays the recorded calls of the cell's
    check (``record.py``), applies the static rules (no ``bpcourse`` in answer cells, no
    graded function defined twice), rewrites the cell's outputs as the teaching message
    alone (no traceback, no hidden code) and removes the hidden tests from its source.
    nbgrader's ``SaveAutoGrades`` turns the outputs into scores as usual.

What happened (timeout, crash, memory limit, tampering) is stored in the autograded
notebook's metadata, ``bpcourse_grading.events``, for the instructor's summary.
"""

import ast
import json
import os
import shutil
import signal
import sys
import tempfile
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async
from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.preprocessors.execute import Execute
from traitlets import Integer

from . import sandbox
from .contract import CELL_SECONDS, by_cell, notebook_seconds
from .replay import channel_problems, read_records, replay

try:
    from jupyter_client.manager import AsyncKernelManager
except ImportError:  # pragma: no cover
    from jupyter_client import AsyncKernelManager

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests: run by the grader)"


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _error(ename, evalue):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {line}" if i == 0 else line
                                   for i, line in enumerate(evalue.splitlines() or [""])])


# -- sanitize --------------------------------------------------------------------------
class GuardCells(NbGraderPreprocessor):
    """Note tampering with graded cells; forget grading metadata the gradebook lacks."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry

        nb.metadata.pop("bpcourse_grading", None)  # only the grader writes it
        info = resources.get("nbgrader", {})
        events = []
        try:
            with Gradebook(info["db_url"]) as gb:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
                grades = {g.name: g.max_score for g in notebook.grade_cells}
                solutions = {s.name for s in notebook.solution_cells}
                tests = {g.name for g in notebook.grade_cells if g.name not in solutions}
                known = set(grades) | solutions | {s.name for s in notebook.source_cells}
        except (KeyError, MissingEntry):
            return nb, resources
        seen = []
        for cell in nb.cells:
            meta = _meta(cell)
            gid = meta.get("grade_id")
            if not gid:
                if "nbgrader" in cell.get("metadata", {}):
                    del cell.metadata["nbgrader"]
                continue
            if gid not in known:
                events.append(f"tampering detected: a cell claims to be graded cell {gid!r}, "
                              "unknown to the gradebook (its grading metadata ignored)")
                del cell.metadata["nbgrader"]
                continue
            seen.append(gid)
            if gid in tests and (meta.get("points") != grades[gid] or not meta.get("grade")
                                 or meta.get("solution") or not meta.get("locked")):
                events.append(f"tampering detected: test cell {gid} had its metadata edited "
                              "(restored from the gradebook)")
        for gid in sorted(tests - set(seen)):
            events.append(f"tampering detected: test cell {gid} deleted or unmarked "
                          "(scores 0)")
        for gid in sorted({g for g in seen if seen.count(g) > 1}):
            events.append(f"tampering detected: graded cell {gid} appears more than once")
        nb.metadata["bpcourse_grading"] = {"events": events}
        return nb, resources


# -- execution in the sandbox ----------------------------------------------------------
class SandboxKernelManager(AsyncKernelManager):
    """Starts the kernel through the sandbox launcher, its output to files, not ours."""

    sandbox_conf = None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        conf = self.sandbox_conf or {}
        if conf.get("enabled"):
            # The launcher runs as a script: importing the bpcourse package costs a second.
            return ["unshare", "-m", "--propagation", "private", sys.executable, "-I",
                    sandbox.__file__, "--", *cmd]
        lim = conf.get("limits", {})
        if shutil.which("prlimit") and lim:
            return ["prlimit", f"--as={lim['memory']}", f"--cpu={lim['cpu']}",
                    f"--fsize={lim['fsize']}", "--core=0", *cmd]
        return cmd

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        conf = self.sandbox_conf or {}
        env = dict(kw.get("env") or os.environ)
        env.pop("BPCOURSE_RECORD_FD", None)
        if conf.get("enabled"):
            env["BPCOURSE_SANDBOX"] = json.dumps(conf)
        elif conf:
            env["BPCOURSE_RECORD_PATH"] = conf["record"]
        kw["env"] = env
        kw["stdout"] = open(os.devnull, "wb")  # noqa: SIM115 (the kernel keeps it)
        if conf.get("stderr"):
            kw["stderr"] = open(conf["stderr"], "ab")  # noqa: SIM115
        return await super()._async_launch_kernel(kernel_cmd, **kw)


def _signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class SandboxedExecute(Execute):
    """nbgrader's Execute, in the sandbox, surviving a dead or hung kernel."""

    memory_mb = Integer(2048, help="address space of a student's kernel (MB)").tag(config=True)
    cpu_seconds = Integer(900, help="CPU time of a student's kernel (s)").tag(config=True)
    nproc = Integer(64, help="processes and threads of the grading user").tag(config=True)
    fsize_mb = Integer(64, help="largest file a student's kernel may write (MB)").tag(
        config=True)
    scratch_mb = Integer(256, help="size of the kernel's /tmp scratch tmpfs (MB)").tag(
        config=True)
    max_output = Integer(100_000, help="characters of output kept per cell").tag(config=True)

    def _conf(self, workdir):
        enabled, why = sandbox.available()
        conf = {"enabled": enabled, "why": why, "record": os.path.join(workdir, "record.jsonl"),
                "stderr": os.path.join(workdir, "kernel.err"), "uid": None, "gid": None,
                "limits": {"memory": self.memory_mb << 20, "cpu": self.cpu_seconds,
                           "nproc": self.nproc, "fsize": self.fsize_mb << 20},
                "scratch_mb": self.scratch_mb}
        if not enabled:
            return conf
        from .. import __file__ as package_init
        from ..mnist import data_home

        slot = sandbox.acquire_slot(int(os.environ.get("BPCOURSE_SANDBOX_SLOT", "0")))
        pw = sandbox.user(slot)
        conf["uid"], conf["gid"] = pw.pw_uid, pw.pw_gid
        sandbox.kill_user(pw.pw_uid)  # nothing left over from before, so the cgroup is empty
        conf["cgroups"] = sandbox.cgroups(slot, self.memory_mb << 20, self.nproc)
        package = os.path.dirname(os.path.realpath(package_init))
        project = os.path.dirname(package)
        root = os.path.realpath(self._course_root or os.getcwd())
        hide = {"/root", "/home", "/var/tmp", "/dev/shm", "/run/lock", "/srv", "/mnt",
                "/media", "/opt", root, os.path.dirname(root), project,
                os.path.dirname(project), os.path.realpath(tempfile.gettempdir())}
        keep = {"/", "/usr", "/etc", "/proc", "/sys", "/dev", "/bin", "/sbin", "/lib",
                "/lib64", "/var", "/run", "/tmp"}
        conf["hide"] = sorted(p for p in hide if p not in keep and os.path.isdir(p))
        data = str(data_home())
        conf["data"] = data
        conf["reveal"] = [sys.prefix, sys.base_prefix, package,
                          os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
                          data]
        return conf

    def preprocess(self, nb, resources, km=None):
        info = resources.setdefault("bpcourse", {})
        self._events = info.setdefault("events", [])
        self._course_root = os.environ.get("BPCOURSE_COURSE_ROOT")
        workdir = tempfile.mkdtemp(prefix="bpcourse-grading-")
        info["workdir"] = workdir
        self._sandbox = conf = self._conf(workdir)
        info["record"] = conf["record"]
        if not conf["enabled"]:
            self._events.append(f"warning: no sandbox ({conf['why']}): the student's code ran "
                                "as the grader, with resource limits only")
        self._stop, self._timeouts, self._flooded = None, 0, set()
        self._consecutive = False
        self._sizes = {}
        # What happened to each cell that did not simply run (timeout, crashed, not_run),
        # by index, for the verdict: a field, not an error message to recognise.
        self._states = info.setdefault("cells", {})
        self._deadline = time.monotonic() + notebook_seconds(self.timeout or CELL_SECONDS)
        try:
            for attempt in range(3):  # a kernel that fails to start is started again
                self._ran = False
                try:
                    super().preprocess(nb, resources, km)
                    break
                except Exception:
                    if self._ran or attempt == 2:
                        raise
                    self.log.warning("the kernel did not start: trying again")
                    if conf.get("uid"):
                        sandbox.kill_user(conf["uid"])
                    time.sleep(1 + attempt)
        except Exception as err:  # the kernel did not start, or died between cells
            reason = self._death_reason() or f"{type(err).__name__}"
            if not self._stop:
                self._events.append(f"crash: the kernel could not run the notebook ({reason})")
                self._stop = f"the kernel could not run ({reason})"
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and cell.get("execution_count") is None \
                        and not cell.get("outputs"):
                    cell.outputs = [_error("NotRun", f"not run: {self._stop}")]
                    self._states.setdefault(i, "not_run")
        finally:
            if conf.get("uid"):
                sandbox.kill_user(conf["uid"])
            kills = sandbox.oom_kills(conf.get("cgroups", []))
            if kills:
                self._events.append(f"memory limit: the kernel's processes went past "
                                    f"{self.memory_mb} MB together; {kills} killed")
        return nb, resources

    async def _async_handle_timeout(self, timeout, cell=None):
        # nbclient interrupts a cell at its time limit and hands back nbgrader's
        # error_on_timeout reply instead of raising: note the cell here, where it is known.
        self._states[self._index] = "timeout"
        return await super()._async_handle_timeout(timeout, cell)

    async def _async_check_alive(self):
        # nbclient asks the heartbeat, which misses its 1 s deadline on a loaded machine
        # and declares a busy kernel dead; ask whether the process still runs instead (a
        # hung kernel is the time limit's business).
        if not await ensure_async(self.km.is_alive()):
            self.log.error("Kernel died while waiting for execute reply.")
            raise DeadKernelError("Kernel died")

    def create_kernel_manager(self):
        self.kernel_manager_class = SandboxKernelManager
        km = super().create_kernel_manager()
        km.sandbox_conf = self._sandbox
        return km

    def _death_reason(self):
        try:
            proc = self.km.provisioner.process
            rc = proc.wait(timeout=2)
        except Exception:
            return None
        if rc is None:
            return None
        if rc < 0:
            name = _signal_name(-rc)
            what = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "file size limit",
                    "SIGSEGV": "segmentation fault", "SIGKILL": "killed",
                    "SIGABRT": "aborted"}.get(name, name)
            return f"{what}, {name}"
        if rc == 70:
            return "the sandbox could not start"
        return f"exit code {rc}"

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stop is None and time.monotonic() > self._deadline:
            self._stop = "the notebook ran past its time budget"
            self._events.append("timeout: the notebook ran past its time budget; "
                                f"cells from {index} on not run")
        if self._stop:
            cell.outputs = [_error("NotRun", f"not run: {self._stop}")]
            self._states[index] = "not_run"
            return cell, resources
        self._ran, self._index = True, index
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = self._death_reason() or "it died"
            kind = "memory limit" if "killed" in reason else (
                "CPU time limit" if "CPU" in reason else "crash")
            self._events.append(f"{kind}: the kernel died in cell {index} ({reason}); the "
                                "cells before it count, the later ones were not run")
            self._stop = f"the kernel died in an earlier cell ({reason})"
            cell.outputs.append(_error("DeadKernelError", f"the kernel died ({reason})"))
            self._states[index] = "crashed"
            return cell, resources
        except CellTimeoutError:
            cell.outputs.append(_error("CellTimeoutError", f"cut off after {self.timeout} s"))
            self._states[index] = "timeout"
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if self._states.get(index) == "timeout":
            self._timeouts += 1
            self._events.append(f"timeout: cell {index} cut off after {self.timeout} s")
            if self._timeouts >= 2 and self._consecutive:
                self._stop = "the kernel stopped answering after two time-outs"
            self._consecutive = True
        else:
            self._consecutive = False
        if any(o.get("ename") == "MemoryError" for o in errors):
            self._events.append(f"memory limit: MemoryError in cell {index} "
                                f"(limit {self.memory_mb} MB)")
        if index in self._flooded:
            self._events.append(f"output flood: cell {index}'s output truncated to "
                                f"{self.max_output} characters")
        return cell, resources

    _consecutive = False

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in (content.get("data") or {}).values()) + len(
            str(content.get("traceback", "")))
        self._sizes[cell_index] = self._sizes.get(cell_index, 0) + size
        if self._sizes[cell_index] > self.max_output:
            self._flooded.add(cell_index)
            return None
        return super().output(outs, msg, display_id, cell_index)


# -- the grader's verdict --------------------------------------------------------------
MODULE_NAMES = {"np", "numpy", "math", "builtins", "bpcourse", "bp", "grading", "os", "sys"}
SUSPICIOUS = {"__import__", "importlib", "exec", "eval", "compile", "globals", "setattr",
              "__builtins__", "builtins", "ctypes", "gc", "sys", "signal", "subprocess",
              "multiprocessing", "_exit", "fork", "kill"}


def _bound_names(node):
    """Names a statement-level tree binds: def, class, assignment, import, for, with."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return names


def _top_defs(tree):
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def analyse(nb, graded):
    """Static rules on the student's cells: ({function: why it is not graded}, events)."""
    flags, events = {}, []
    trees = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        kind = ("answer" if meta.get("solution") and not meta.get("grade") else
                "manual" if meta.get("solution") else
                "locked" if meta.get("locked") or meta.get("grade") else "student")
        src = "\n".join(line for line in cell.source.splitlines()
                        if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        trees.append((i, kind, tree))
    bp_modules, bp_names = set(), set()  # bound to bpcourse: module aliases, imported names
    modules = set(MODULE_NAMES)
    for _, kind, tree in trees:
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                for a in n.names:
                    modules.add((a.asname or a.name).split(".")[0])
                    if a.name.split(".")[0] == "bpcourse":
                        bp_modules.add((a.asname or a.name).split(".")[0])
            elif isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "bpcourse":
                names = {a.asname or a.name for a in n.names}
                if kind != "locked":
                    bp_names |= names
    owners = {}
    for i, kind, tree in trees:
        if kind in ("answer", "student"):
            for name in _bound_names(tree) & graded:
                owners.setdefault(name, []).append((i, kind, name in _top_defs(tree)))
        if kind not in ("answer", "student"):
            continue
        where = f"cell {i}" + (" (an answer cell)" if kind == "answer" else "")
        for n in ast.walk(tree):
            # Monkeypatching: assigning to an attribute of a module, or dynamic tricks.
            targets = n.targets if isinstance(n, ast.Assign) else (
                [n.target] if isinstance(n, (ast.AugAssign, ast.AnnAssign)) else [])
            for t in targets:
                root = t
                while isinstance(root, (ast.Attribute, ast.Subscript)):
                    root = root.value
                if isinstance(t, (ast.Attribute, ast.Subscript)) and isinstance(root, ast.Name) \
                        and root.id in modules | {"__builtins__"}:
                    events.append(f"tampering detected: {where} assigns to "
                                  f"{ast.unparse(t)[:60]} (monkeypatching)")
            name = n.id if isinstance(n, ast.Name) else (
                n.attr if isinstance(n, ast.Attribute) else None)
            if name in SUSPICIOUS:
                events.append(f"tampering detected: {where} uses {name}")
        if kind != "answer":
            continue
        defs = _bound_names(tree) & graded
        uses = []
        for n in ast.walk(tree):
            if isinstance(n, ast.Import) and any(a.name.split(".")[0] == "bpcourse"
                                                 for a in n.names):
                uses.append("imports bpcourse")
            elif isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "bpcourse":
                uses.append(f"imports from {n.module}")
            elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) \
                    and n.value.id in bp_modules:
                uses.append(f"uses {n.value.id}.{n.attr}")
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in bp_names:
                uses.append(f"uses {n.id} imported from bpcourse")
        if uses:
            for f in defs:
                flags[f] = (f"its answer cell {uses[0]}: the course's reference implementation "
                            "may not be used for a graded function (not graded)")
            events.append(f"reference use: answer cell {i} {uses[0]} "
                          f"({', '.join(sorted(defs)) or 'no graded function'} scores 0)")
    for name, where in owners.items():
        if len(where) > 1 or where[0][1] != "answer":
            flags[name] = ("it is defined again outside its answer cell (not graded: write "
                           "each graded function once, in its answer cell)")
            events.append(f"tampering detected: {name} is defined in cells "
                          f"{', '.join(str(i) for i, _, _ in where)} (scores 0)")
    return flags, list(dict.fromkeys(events))


def _strip_hidden(src):
    if HIDDEN_BEGIN not in src:
        return src
    head = src.split(HIDDEN_BEGIN)[0]
    tail = src.split(HIDDEN_END, 1)[1] if HIDDEN_END in src else ""
    return (head.rstrip("\n") + "\n" + HIDDEN_NOTE + tail).strip("\n")


class GraderVerdict(NbGraderPreprocessor):
    """Decide every test cell in the grader's process, from the recorded calls.

    Each test cell's outputs become the teaching message alone, and its verdict is stored
    as fields in ``bpcourse_grading.cells[grade_id]``: ``outcome`` (passed, failed,
    not_written, error, timeout, crashed, not_run, not_graded, no_result, tampering),
    ``mistake`` (a key of MISTAKES or None) and ``detail`` (a line for the summary).
    """

    def preprocess(self, nb, resources):
        info = resources.get("bpcourse", {})
        meta = nb.metadata.get("bpcourse_grading") or {}
        events = list(meta.get("events", [])) + list(info.get("events", []))
        path = info.get("record")
        records = read_records(path) if path else {}
        diagnoses = read_records(path, via="explain") if path else {}
        events += channel_problems(path) if path else []
        states = info.get("cells", {})
        tests = [(i, c, by_cell(_meta(c).get("grade_id"))) for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and _meta(c).get("grade")
                 and not _meta(c).get("solution")]
        tests = [(i, c, b) for i, c, b in tests if b is not None]
        flags, static_events = analyse(nb, {b.function for _, _, b in tests})
        events += static_events
        verdicts = {}
        for index, cell, b in tests:
            v, printed = self._decide(b, cell, states.get(index), flags, records, diagnoses,
                                      events)
            outs = []
            if printed:
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=printed[:2000]))
            if v["outcome"] != "passed":
                outs.append(_error(v.pop("ename"), v.pop("message")))
            cell.outputs = outs
            verdicts[b.cell] = v
        nb.metadata["bpcourse_grading"] = {"events": list(dict.fromkeys(events)),
                                           "cells": verdicts}
        workdir = info.get("workdir")
        if workdir and os.path.basename(workdir).startswith("bpcourse-grading-"):
            shutil.rmtree(workdir, ignore_errors=True)
        return nb, resources

    @staticmethod
    def _decide(b, cell, state, flags, records, diagnoses, events):
        """The verdict of one test cell (fields) and what its check printed."""

        def verdict(outcome, ename, message, mistake=None, detail=None):
            first = message.strip().splitlines()[0] if message.strip() else ename
            return {"outcome": outcome, "mistake": mistake, "ename": ename,
                    "message": message, "detail": (detail or first)[:70]}, ""

        fn = b.function
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if fn in flags:
            return verdict("not_graded", "NotGraded", f"{fn}: {flags[fn]}")
        if state or errors:  # the cell itself did not run to its end in the kernel
            e = errors[0] if errors else {}
            ename = str(e.get("ename", "Error"))[:60]
            message = str(e.get("evalue", ""))[:3000]
            if state:
                return verdict(state, ename, message, detail={
                    "timeout": "timed out (cut off)", "crashed": "the kernel died here",
                    "not_run": "not run (an earlier cell stopped the kernel)"}[state])
            # A visible test failed: the mistake, if any, from the grader's own replay of
            # the diagnosis the kernel recorded (never from the kernel's message).
            d = diagnoses.get(b.name)
            found = replay(b.name, d) if d else None
            if found and found.outcome in ("failed", "not_written"):
                return verdict(found.outcome, ename, message, found.mistake,
                               "not written" if found.outcome == "not_written" else
                               found.mistake or f"{ename}: {found.message}")
            return verdict("error", ename, message, detail=f"{ename}: {message}")
        if b.name in records and records[b.name] is None:
            events.append(f"tampering detected: {b.name} recorded more than once "
                          "(a forged record?)")
            return verdict("tampering", "NotGraded",
                           f"{fn}: the hidden tests' results were recorded more than once, "
                           "so none of them can be trusted")
        r = records.get(b.name)
        if r is None:
            return verdict("no_result", "NoResult", f"{fn}: the hidden tests did not run to "
                                                    "the end, so there is no result to grade",
                           detail="no result (the hidden tests did not run to the end)")
        found = replay(b.name, r)
        if str(r.get("module", "")).startswith("bpcourse"):
            events.append(f"reference use: {b.name} was given bpcourse's function")
            return verdict("not_graded", "CheckFailed",
                           f"{fn}: the function graded is bpcourse's, not yours")
        if found.outcome == "mismatch":
            events.append(f"tampering detected: the run of {b.name} in the kernel does not "
                          f"replay ({found.message})")
            return verdict("tampering", "CheckFailed",
                           f"{fn}: the results recorded in your kernel could not be checked "
                           "(was NumPy or the grading code changed by the notebook?)")
        if not found.passed and r.get("status") == "passed":
            events.append(f"tampering detected: {b.name} passed in the kernel but not in the "
                          "grader (comparisons patched?)")
        if found.passed:
            return {"outcome": "passed", "mistake": None, "detail": ""}, found.printed
        v, _ = verdict(found.outcome, "CheckFailed", found.message, found.mistake,
                       "not written" if found.outcome == "not_written" else found.mistake)
        return v, found.printed


class StripHiddenTests(NbGraderPreprocessor):
    """Remove the hidden tests from the test cells' source (last: after the checksums)."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            if cell.cell_type == "code" and _meta(cell).get("grade"):
                cell.source = _strip_hidden(cell.source)
        return nb, resources


def configure(c):
    """Put the hardened preprocessors into nbgrader's autograde (nbgrader_config.py)."""
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    c.Autograde.sanitize_preprocessors = [GuardCells, ClearOutput, DeduplicateIds,
                                          OverwriteKernelspec, OverwriteCells,
                                          CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, GraderVerdict,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                           CheckCellMetadata, StripHiddenTests]
