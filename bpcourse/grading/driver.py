"""The instructor's commands: release the assignments, grade every submission.

Both drive nbgrader's command line (nbgrader 0.9.6) in the course folder, whose
``nbgrader_config.py`` puts submissions, autograded copies, feedback, the gradebook and
the grades CSV under ``_grading/``. Submissions go in
``_grading/submitted/<student>/<assignment>/<assignment>.ipynb``.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .checks import MISTAKES

GRADING = "_grading"


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
    """Names of the assignments in solutions/ (ps1, ps2, ...), sorted."""
    return sorted(p.name for p in (Path(course) / "solutions").iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")))


def release(course=".", out=None, names=None, quiet=False):
    """Regenerate the student notebooks from solutions/ into assignments/ (or ``out``).

    With ``out`` the gradebook used is a throw-away one inside ``out``, so checking that
    the committed release is up to date touches nothing of the course.
    """
    course = Path(course).resolve()
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


def _mistake_name(text):
    for name, msg in MISTAKES.items():
        if msg[:60] in text.replace("\n", " "):
            return name
    return None


def problems_of(notebook):
    """Failing graded cells of an autograded notebook: ["grade_id: what went wrong", ...]."""
    nb = json.loads(Path(notebook).read_text())
    out = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("grade") and not meta.get("solution")):
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            ename, evalue = o.get("ename", ""), o.get("evalue", "")
            if ename in ("CellTimeoutError", "KeyboardInterrupt", "TimeoutError") or \
                    "timeout" in ename.lower():
                what = "timed out (cut off)"
            elif "not written yet" in evalue:
                what = "not written"
            else:
                mistake = _mistake_name(evalue)
                first = evalue.strip().splitlines()[0] if evalue.strip() else ""
                if first.startswith(("Diagnosis:",)):
                    first = ""
                what = mistake or f"{ename}: {first}"[:70]
            out.append(f"{meta['grade_id']}: {what}")
            break
    blank = [p for p in out if p.endswith(": not written")]
    if len(blank) > 1:
        out = [p for p in out if p not in blank] + [f"{len(blank)} tests: not written"]
    return out


def _results(course, pairs):
    from nbgrader.api import Gradebook, MissingEntry

    db = Path(course) / GRADING / "gradebook.db"
    results = []
    with Gradebook(f"sqlite:///{db}") as gb:
        for student, name in pairs:
            r = Result(student, name)
            try:
                sub = gb.find_submission(name, student)
            except MissingEntry:
                r.problems.append("not graded: no submission in the gradebook "
                                  "(see _grading/logs/autograde.log)")
                r.max_score = gb.find_assignment(name).max_score
                results.append(r)
                continue
            r.score, r.max_score = sub.score, sub.max_score
            r.manual = sub.needs_manual_grade
            folder = Path(course) / GRADING / "autograded" / student / name
            notebooks = sorted(folder.glob("*.ipynb"))
            if not notebooks:
                r.problems.append("not graded: the kernel died or nbgrader failed "
                                  "(see _grading/logs/autograde.log)")
            for nb in notebooks:
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


def grade(course=".", timeout=None, force=False, quiet=False):
    """Autograde every submission, generate feedback, export grades; return the results."""
    course = Path(course).resolve()
    say = (lambda *a, **k: None) if quiet else (lambda *a, **k: print(*a, **k, flush=True))
    todo = submissions(course)
    if not todo:
        say(f"no submissions under {course / GRADING / 'submitted'}: nothing to grade")
        return []
    names = sorted({a for _, a in todo})
    logdir = course / GRADING / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    extra = [f"--ExecutePreprocessor.timeout={int(timeout)}"] if timeout else []
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
    total, done, t_start = len(todo), 0, time.perf_counter()
    say(f"autograding {total} submission(s) of {len(names)} assignment(s)")

    def progress(line):
        nonlocal done
        m = re.search(r"Autograding (\S+\.ipynb)", line)
        if m:
            done += 1
            path = Path(m.group(1))
            el = time.perf_counter() - t_start
            say(f"  [{done}/{total}] {path.parent.parent.name} {path.parent.name} "
                f"({el:.0f} s elapsed)")

    pattern = names[0] if len(names) == 1 else "*"
    args = ["autograde", pattern, *extra] + (["--force"] if force else [])
    rc = _nbgrader(course, *args, log=logdir / "autograde.log", on_line=progress)
    if rc:
        say(f"nbgrader autograde exited with {rc}: see {logdir / 'autograde.log'}")
    say("generating feedback")
    _nbgrader(course, "generate_feedback", pattern, "--force", log=logdir / "feedback.log")
    csv_path = course / GRADING / "grades.csv"
    _nbgrader(course, "export", f"--to={csv_path}", log=logdir / "export.log")
    results = _results(course, todo)
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


def submit(course, student, notebook, assignment=None):
    """Copy a notebook into _grading/submitted/<student>/<assignment>/ (for tests, demos)."""
    notebook = Path(notebook)
    assignment = assignment or notebook.stem
    dest = Path(course) / GRADING / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, dest / f"{assignment}.ipynb")
    (dest / "timestamp.txt").write_text("2026-11-29 08:00:00.000000 UTC")
    return dest
