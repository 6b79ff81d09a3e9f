"""The instructor's commands: release the assignments, grade every submission.

Both drive nbgrader's command line (nbgrader 0.9.6) in the course folder, whose
``nbgrader_config.py`` puts nbgrader's source notebooks, submissions, autograded copies,
feedback, the gradebook and the grades CSV under ``_grading/``. Submissions go in
``_grading/submitted/<student>/<assignment>/<assignment>.ipynb``.

The instructor writes each assignment as a MyST markdown notebook,
``solutions/<assignment>/<assignment>.md`` (jupytext's ``myst`` format, nbgrader's metadata
in each cell's options); both commands first build nbgrader's source notebooks from them
(``build_sources``).
"""

import csv
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .contract import CELL_SECONDS, submission_seconds

GRADING = "_grading"
MAX_SUBMISSION = 50 << 20  # bytes of one submission folder


def _env():
    # nbgrader runs `alembic` from PATH: put this interpreter's bin folder first.
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def _nbgrader(course, *args, log=None, on_line=None):
    """Run ``nbgrader ARGS`` in the course folder; stream its log; return the exit code."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.Popen(cmd, cwd=course, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    with open(log, "a") if log else open(os.devnull, "w") as out:
        for line in proc.stdout:
            out.write(line)
            if on_line:
                on_line(line)
    return proc.wait()


def assignments(course):
    """Names of the assignments in solutions/ (ps1, ps2, ...: ``<name>/<name>.md``), sorted."""
    return sorted(p.name for p in (Path(course) / "solutions").iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_"))
                  and (p / f"{p.name}.md").is_file())


def build_sources(course=".", names=None):
    """Build nbgrader's source notebooks from the instructor's MyST markdown; their paths.

    Converts ``solutions/<name>/<name>.md`` with jupytext into
    ``_grading/source/<name>/<name>.ipynb`` (git-ignored; ``source_directory`` in
    ``nbgrader_config.py``) for each of ``names`` (default: every assignment, and folders
    of assignments no longer in solutions/ are removed, so nbgrader releases none).
    The notebooks are deterministic, as nbgrader likes them: nbformat 4.4 (no cell ids),
    cells with their nbgrader metadata only, notebook metadata the kernelspec and the
    language. A file is rewritten (atomically) only when its content changes.
    """
    import jupytext
    import nbformat

    course = Path(course).resolve()
    root = course / GRADING / "source"
    if names is None:
        names = assignments(course)
        if root.is_dir():
            for stale in root.iterdir():
                if stale.is_dir() and stale.name not in names:
                    shutil.rmtree(stale)
    paths = []
    for name in names:
        nb = jupytext.read(course / "solutions" / name / f"{name}.md")
        kernel = nb.metadata["kernelspec"]
        nb.metadata = {"kernelspec": kernel, "language_info": {"name": kernel["language"]}}
        nb.nbformat, nb.nbformat_minor = 4, 4
        for cell in nb.cells:
            cell.pop("id", None)
        text = nbformat.writes(nb) + "\n"
        path = root / name / f"{name}.ipynb"
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = root / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_text(text)
            os.replace(tmp, path)
        paths.append(path)
    return paths


def release(course=".", out=None, names=None, quiet=False):
    """Build the source notebooks, then release them into assignments/ (or ``out``).

    Runs ``build_sources``, then nbgrader's ``generate_assignment`` for ``names`` (default:
    all). With ``out`` the gradebook used is a throw-away one inside ``out``, so checking
    that the committed release is up to date touches nothing of the course.
    """
    course = Path(course).resolve()
    build_sources(course, names)
    extra = []
    if out is not None:
        out = Path(out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        extra = [f"--CourseDirectory.release_directory={out}",
                 f"--CourseDirectory.db_url=sqlite:///{out / 'gradebook.db'}"]
    log = (out or course / GRADING) / "release.log"
    log.parent.mkdir(exist_ok=True)
    failed = []
    # One nbgrader run for all ("*"): its start-up costs more than converting a notebook.
    for name in names or ["*"]:
        t0 = time.perf_counter()
        rc = _nbgrader(course, "generate_assignment", name, "--force", *extra, log=log)
        if not quiet:
            what = "every assignment" if name == "*" else name
            print(f"released {what} in {time.perf_counter() - t0:.1f} s"
                  + ("" if rc == 0 else f"  FAILED (see {log})"), flush=True)
        if rc:
            failed.append(name)
    if out is not None:
        (out / "gradebook.db").unlink(missing_ok=True)
    return failed


# -- grading ---------------------------------------------------------------------------
@dataclass
class Result:
    """What happened to one student's submission of one assignment."""

    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    problems: list = field(default_factory=list)
    manual: bool = False  # some points wait for a human grader


def submissions(course):
    """(student, assignment) of every submission under _grading/submitted, sorted."""
    root = Path(course) / GRADING / "submitted"
    if not root.is_dir():
        return []
    return sorted((a.parent.name, a.name) for a in root.glob("*/*")
                  if a.is_dir() and not a.name.startswith("."))


def _known(course, names):
    """The assignments among ``names`` that the gradebook already holds."""
    db = Path(course) / GRADING / "gradebook.db"
    if not db.exists():
        return set()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        return {a.name for a in gb.assignments} & set(names)


def problems_of(notebook):
    """Failing graded cells of an autograded notebook: ["grade_id: what went wrong", ...].

    Read from the verdict's fields (``bpcourse_grading.cells``): the mistake's name when
    the check recognised one, else the verdict's one-line detail.
    """
    nb = _read_json(notebook)
    verdicts = (nb.get("metadata", {}).get("bpcourse_grading") or {}).get("cells") or {}
    order = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.get("cells", [])]
    out, blank = [], 0
    for gid in [g for g in order if g in verdicts]:  # in the notebook's order
        v = verdicts[gid]
        if v.get("outcome") == "passed":
            continue
        if v.get("outcome") == "not_written":
            blank += 1
            out.append(f"{gid}: not written")
        else:
            out.append(f"{gid}: {v.get('mistake') or v.get('detail')}")
    if blank > 1:
        out = [p for p in out if not p.endswith(": not written")] + [f"{blank} tests: not written"]
    return out


def _read_json(notebook):
    try:
        return json.loads(Path(notebook).read_text())
    except (OSError, ValueError):
        return {}


def events_of(notebook):
    """What the hardened grader noted about a notebook: timeouts, crashes, tampering..."""
    meta = _read_json(notebook).get("metadata", {}).get("bpcourse_grading") or {}
    return list(meta.get("events", []))


def _results(course, pairs, notes=None):
    from nbgrader.api import Gradebook, MissingEntry

    notes = notes or {}
    db = Path(course) / GRADING / "gradebook.db"
    results = []
    with Gradebook(f"sqlite:///{db}") as gb:
        for student, name in pairs:
            r = Result(student, name)
            r.problems.extend(notes.get((student, name), []))
            try:
                sub = gb.find_submission(name, student)
            except MissingEntry:
                r.problems.append("not graded: no submission in the gradebook "
                                  "(see _grading/logs/)")
                r.max_score = gb.find_assignment(name).max_score
                results.append(r)
                continue
            r.score, r.max_score = sub.score, sub.max_score
            r.manual = sub.needs_manual_grade
            folder = Path(course) / GRADING / "autograded" / student / name
            notebooks = sorted(folder.glob("*.ipynb"))
            if not notebooks:
                r.problems.append("not graded: the kernel died or nbgrader failed "
                                  "(see _grading/logs/)")
            for nb in notebooks:
                r.problems.extend(e for e in events_of(nb) if e not in r.problems)
                r.problems.extend(problems_of(nb))
            results.append(r)
    return results


def summary_table(results):
    """The instructor's summary: one line per submission."""
    rows = [("student", "assignment", "score", "max", "problems found")]
    for r in results:
        probs = list(r.problems)
        if r.manual:
            probs.append("needs manual grading")
        rows.append((r.student, r.assignment, f"{r.score:g}", f"{r.max_score:g}",
                     "; ".join(probs) if probs else "none"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(row[:4], widths, strict=True)))
                     + "  " + row[4])
        if i == 0:
            lines.append("-" * (sum(widths) + 6 + len("problems found") + 2))
    return "\n".join(lines)


class _Worker:
    """One grading worker process (worker.py) in a private copy of the course.

    The copy (``_grading/work/slot-k``) holds the configuration, a copy of the gradebook
    and the submissions given to this worker, so each worker writes its own SQLite file.
    """

    def __init__(self, course, slot, timeout):
        self.course, self.slot, self.timeout = course, slot, timeout
        self.dir = course / GRADING / "work" / f"slot-{slot}"
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / GRADING).mkdir(parents=True)
        shutil.copy(course / "nbgrader_config.py", self.dir)
        shutil.copy(course / GRADING / "work" / "template.db",
                    self.dir / GRADING / "gradebook.db")
        self.log = open(course / GRADING / "logs" / f"autograde-{slot}.log", "w")  # noqa: SIM115
        self.proc, self.held = None, -1

    def start(self):
        env = _env()
        env.update(BPCOURSE_SANDBOX_SLOT=str(self.slot), BPCOURSE_COURSE_ROOT=str(self.course))
        cmd = [sys.executable, "-m", "bpcourse.grading.worker"]
        if self.timeout:
            cmd += ["--timeout", str(int(self.timeout))]
        self.proc = subprocess.Popen(cmd, cwd=self.dir, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, start_new_session=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()
        line, err = self._wait("READY", 300)
        if line:
            self.held = int(line.split("\t")[1])  # the slot the worker holds (-1: none)
        return line, err

    def _read(self, proc, lines):
        for line in proc.stdout:
            self.log.write(line)
            lines.put(line)
        lines.put(None)

    def _wait(self, prefix, seconds):
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return None, "timeout"
            if line is None:
                return None, "died"
            if line.startswith(prefix):
                return line.rstrip("\n"), None

    def run(self, student, name):
        """Grade one submission; None, or what went wrong with the worker."""
        if self.proc is None:
            _, err = self.start()
            if err:
                self.stop(kill=True)
                return f"crash: the grading worker did not start ({err})"
        dest = self.dir / GRADING / "submitted" / student / name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(self.course / GRADING / "submitted" / student / name, dest)
        limit = submission_seconds(self.timeout or CELL_SECONDS)
        self.proc.stdin.write(f"{student}\t{name}\n")
        self.proc.stdin.flush()
        line, err = self._wait("DONE\t", limit)
        if err:
            self.stop(kill=True)
            return (f"crash: the grading worker was stopped after {limit} s" if err == "timeout"
                    else "crash: the grading worker died")
        return None if line.endswith("\t1") else "nbgrader reported an error (see _grading/logs/)"

    def stop(self, kill=False):
        if self.proc is None:
            return
        if not kill:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                kill = True
        if kill:
            _kill(self.proc, self.held)
            self.proc.wait()
        self.proc, self.held = None, -1


def _kill(proc, slot):
    """Kill a worker: first its kernels (while it still holds its slot), then itself."""
    from . import sandbox

    if slot >= 0 and os.geteuid() == 0:
        try:
            sandbox.kill_user(sandbox.user(slot).pw_uid)
        except KeyError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def _merge(course, work, chunk, notes):
    """Move a worker's autograded notebooks and feedback home; copy its grades in."""
    main_db = f"sqlite:///{course / GRADING / 'gradebook.db'}"
    with warnings.catch_warnings():  # nbgrader's add_submission trips SQLAlchemy warnings
        warnings.simplefilter("ignore")
        _merge_grades(course, work, chunk, notes, main_db)


def _merge_grades(course, work, chunk, notes, main_db):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{work / GRADING / 'gradebook.db'}") as wgb, \
            Gradebook(main_db) as gb:
        for student, name in chunk:
            for kind in ("autograded", "feedback"):
                dest = course / GRADING / kind / student / name
                shutil.rmtree(dest, ignore_errors=True)
                src = work / GRADING / kind / student / name
                if src.is_dir():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(src, dest)
            gb.update_or_create_student(student)
            try:
                wsub = wgb.find_submission(name, student)
            except MissingEntry:
                gb.update_or_create_submission(name, student)
                notes.setdefault((student, name), []).append(
                    "not graded: nbgrader failed (see _grading/logs/)")
                continue
            gb.update_or_create_submission(name, student, timestamp=wsub.timestamp)
            for wnb in wsub.notebooks:
                for g in wnb.grades:
                    mg = gb.find_grade(g.name, wnb.name, name, student)
                    mg.auto_score, mg.manual_score = g.auto_score, g.manual_score
                    mg.extra_credit, mg.needs_manual_grade = g.extra_credit, g.needs_manual_grade
                for cm in wnb.comments:
                    mc = gb.find_comment(cm.name, wnb.name, name, student)
                    mc.auto_comment, mc.manual_comment = cm.auto_comment, cm.manual_comment
                mnb = gb.find_submission_notebook(wnb.name, name, student)
                mnb.flagged = wnb.flagged
                mnb.late_submission_penalty = wnb.late_submission_penalty
            gb.db.commit()


def _graded_before(course, todo):
    from nbgrader.api import Gradebook, MissingEntry

    done = set()
    with Gradebook(f"sqlite:///{course / GRADING / 'gradebook.db'}") as gb:
        for student, name in todo:
            try:
                gb.find_submission(name, student)
            except MissingEntry:
                continue
            if any((course / GRADING / "autograded" / student / name).glob("*.ipynb")):
                done.add((student, name))
    return done


def export_csv(course):
    """The grades as nbgrader's CSV (in this process: no nbgrader start-up)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    path = Path(course) / GRADING / "grades.csv"
    with Gradebook(f"sqlite:///{Path(course) / GRADING / 'gradebook.db'}") as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return path


def grade(course=".", timeout=None, force=False, quiet=False, workers=None):
    """Autograde every submission in parallel, write feedback, export grades; the results.

    Each worker process takes the submissions one at a time from a
    shared queue; each autogrades and writes the feedback in a private copy of the course,
    its kernels running as the grading user of its slot (see worker.py, harden.py,
    sandbox.py). The parent merges each result into the one gradebook, serially.
    ``workers`` defaults to the number of cores plus one.
    """
    from tqdm import tqdm

    course = Path(course).resolve()
    build_sources(course)  # registering an assignment in the gradebook releases it
    say = (lambda *a, **k: None) if quiet else (lambda *a, **k: print(*a, **k, flush=True))
    todo = submissions(course)
    if not todo:
        say(f"no submissions under {course / GRADING / 'submitted'}: nothing to grade")
        return []
    names = sorted({a for _, a in todo})
    logdir = course / GRADING / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    os.chmod(course / GRADING, 0o700)  # submissions, grades and feedback: the grader's only
    unknown = sorted(set(names) - set(assignments(course)))
    if unknown:
        say(f"warning: no source notebook for {', '.join(unknown)}: those are skipped")
        names = [n for n in names if n not in unknown]
        todo = [t for t in todo if t[1] in names]
    # The gradebook must know an assignment's cells before it can grade it.
    missing = [n for n in names if n not in _known(course, names)]
    if missing:
        say(f"registering {', '.join(missing)} in the gradebook")
        rel = course / GRADING / "release"
        for n in ["*"] if missing == assignments(course) else missing:
            _nbgrader(course, "generate_assignment", n, "--force",
                      f"--CourseDirectory.release_directory={rel}",
                      log=logdir / "generate_assignment.log")
    before = set() if force else _graded_before(course, todo)
    new = [t for t in todo if t not in before]
    notes = {}
    for student, name in list(new):  # nbgrader reads a notebook whole: refuse a huge one
        folder = course / GRADING / "submitted" / student / name
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        if size > MAX_SUBMISSION:
            new.remove((student, name))
            notes[(student, name)] = [f"not graded: the submission holds {size >> 20} MB, "
                                      f"more than {MAX_SUBMISSION >> 20} MB"]
    # One more worker than cores: a worker waits while its kernel starts and between
    # cells, and the spare one fills those gaps (2 cores: 3 workers grade 40 ps3
    # submissions in 27 s, 2 in 36 s).
    workers = max(1, min(workers or (os.cpu_count() or 1) + 1, len(new) or 1))
    total, t_start = len(new), time.perf_counter()
    if before:
        say(f"{len(before)} submission(s) graded before (FORCE=1 regrades them)")
    say(f"autograding {total} submission(s) of {len(names)} assignment(s) "
        f"with {workers} worker(s)")
    from . import sandbox

    ok, why = sandbox.available()
    if not ok:
        say(f"warning: no sandbox ({why}): students' code runs as you, with resource "
            "limits only")
    shutil.rmtree(course / GRADING / "work", ignore_errors=True)
    (course / GRADING / "work").mkdir()
    shutil.copy(course / GRADING / "gradebook.db", course / GRADING / "work" / "template.db")
    done, lock = 0, threading.Lock()
    bar = tqdm(total=total, unit="submission", desc="autograding", disable=quiet or not total,
               file=sys.stderr, dynamic_ncols=True)
    jobs = queue.Queue()
    for pair in new:
        jobs.put(pair)

    def loop(slot):
        nonlocal done
        worker = _Worker(course, slot, timeout)
        try:
            while True:
                try:
                    student, name = jobs.get_nowait()
                except queue.Empty:
                    break
                problem = worker.run(student, name)
                with lock:
                    if problem:
                        notes.setdefault((student, name), []).append(problem)
                    _merge(course, worker.dir, [(student, name)], notes)
                    done += 1
                    if not quiet:
                        tqdm.write(f"  [{done}/{total}] {student} {name} "
                                   f"({time.perf_counter() - t_start:.0f} s elapsed)",
                                   file=sys.stdout)
                    bar.update(1)
        finally:
            worker.stop()
            worker.log.close()

    threads = [threading.Thread(target=loop, args=(slot,)) for slot in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    shutil.rmtree(course / GRADING / "work", ignore_errors=True)
    if before:
        say("refreshing the feedback of submissions graded before")
        pattern = names[0] if len(names) == 1 else "*"
        _nbgrader(course, "generate_feedback", pattern, "--force", log=logdir / "feedback.log")
    csv_path = export_csv(course)
    results = _results(course, todo, notes)
    say("")
    say(summary_table(results))
    say("")
    say(f"grades: {csv_path}\nfeedback: {course / GRADING / 'feedback'}/<student>/<assignment>/"
        f"\ntook {time.perf_counter() - t_start:.0f} s")
    return results


def read_grades(course):
    """The exported CSV as a list of dicts."""
    with open(Path(course) / GRADING / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))
