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
import shutil
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .channel import KEY_FILE, course_key, key_id
from .contract import submission_seconds

GRADING = "_grading"
MAX_SUBMISSION = 50 << 20  # bytes of one submission folder
WATCH_SECONDS = 30  # how often make grade looks for tasks past their time limit


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
    seconds: float | None = None  # grading it took in its worker (this run only)
    store_seconds: float | None = None  # writing its result home, in this process


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


def _results(course, pairs, notes=None, timings=None):
    from nbgrader.api import Gradebook, MissingEntry

    notes, timings = notes or {}, timings or {}
    db = Path(course) / GRADING / "gradebook.db"
    results = []
    with Gradebook(f"sqlite:///{db}") as gb:
        for student, name in pairs:
            r = Result(student, name)
            r.seconds, r.store_seconds = timings.get((student, name), (None, None))
            r.problems.extend(notes.get((student, name), []))
            try:
                sub = gb.find_submission(name, student)
            except MissingEntry:
                if not any(p.startswith("not graded") for p in r.problems):
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


def _store(course, g, notes):
    """Write one task's result home: its files, then its grades into the one gradebook."""
    from nbgrader.api import Gradebook

    pair = (g.student, g.assignment)
    for kind in ("autograded", "feedback"):
        dest = course / GRADING / kind / g.student / g.assignment
        shutil.rmtree(dest, ignore_errors=True)
        for rel, data in getattr(g, kind).items():
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if g.log:
        with open(course / GRADING / "logs" / f"{g.student}-{g.assignment}.log", "w") as f:
            f.write(g.log)
    if g.problem:
        notes.setdefault(pair, []).append(g.problem)
    with warnings.catch_warnings(), \
            Gradebook(f"sqlite:///{course / GRADING / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")  # nbgrader's add_submission trips SQLAlchemy's
        gb.update_or_create_student(g.student)
        if g.timestamp is None:
            gb.update_or_create_submission(g.assignment, g.student)
            return
        gb.update_or_create_submission(g.assignment, g.student, timestamp=g.timestamp)
        for x in g.grades:
            mg = gb.find_grade(x["name"], x["notebook"], g.assignment, g.student)
            mg.auto_score, mg.manual_score = x["auto_score"], x["manual_score"]
            mg.extra_credit, mg.needs_manual_grade = x["extra_credit"], x["needs_manual_grade"]
        for c in g.comments:
            gb.find_comment(c["name"], c["notebook"], g.assignment,
                            g.student).auto_comment = c["auto_comment"]
        for n in g.notebooks:
            mnb = gb.find_submission_notebook(n["name"], g.assignment, g.student)
            mnb.flagged, mnb.late_submission_penalty = n["flagged"], n["late_submission_penalty"]
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


def grade(course=".", timeout=None, force=False, quiet=False, workers=None, scheduler=None):
    """Autograde every submission on Dask, write feedback, export grades; the results.

    One Dask task per submission (``tasks.grade_task``): each worker process holds a
    grading slot for life (``tasks.SlotPlugin``: a private course copy, the sandbox user
    and cgroups of its slot) and hands back plain data, which this process alone writes
    into the gradebook, the feedback folder and the CSV. Without ``scheduler`` a
    ``LocalCluster`` of ``workers`` single-threaded processes (default: one per core)
    runs here; with ``scheduler`` (``tcp://host:8786``) the tasks go to that cluster,
    whose workers must have this course checkout's commit and Python environment (a
    worker that differs is refused, with the reason). A worker that dies mid-submission
    loses nothing: the scheduler runs the task again on another worker, and the summary
    says it was retried.
    """
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
    # The hidden checks' inputs are drawn from this key at grading time (channel.py).
    key = course_key(course / GRADING / KEY_FILE)
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
    from .tasks import Graded

    notes, handed = {}, {}  # handed: what of each new submission is graded (None: nothing)
    for pair in list(new):
        folder = course / GRADING / "submitted" / pair[0] / pair[1]
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        if size > MAX_SUBMISSION:  # nbgrader reads a notebook whole: refuse a huge one
            handed[pair], said = None, [f"not graded: the submission holds {size >> 20} MB, "
                                        f"more than {MAX_SUBMISSION >> 20} MB"]
        else:
            handed[pair], said = handin(folder, pair[1])
        notes.setdefault(pair, []).extend(said)
        if handed[pair] is None:  # in the gradebook with no score, so in the CSV too
            new.remove(pair)
            _store(course, Graded(*pair, ok=False), notes)
    t_start = time.perf_counter()
    if before:
        say(f"{len(before)} submission(s) graded before (FORCE=1 regrades them)")
    say(f"autograding {len(new)} submission(s) of {len(names)} assignment(s); hidden-test "
        f"inputs drawn from course key {key_id(key)} ({GRADING}/{KEY_FILE}: keep it private)")
    timings = {}  # (student, assignment): (seconds in the worker, seconds to store)
    unsandboxed = {}  # worker name: why it graded without the sandbox
    if new:
        _grade_on_dask(course, {p: handed[p] for p in new}, key, timeout, workers, scheduler,
                       notes, timings, unsandboxed, say, quiet, t_start)
    if before:
        say("refreshing the feedback of submissions graded before")
        pattern = names[0] if len(names) == 1 else "*"
        _nbgrader(course, "generate_feedback", pattern, "--force", log=logdir / "feedback.log")
    csv_path = export_csv(course)
    results = _results(course, todo, notes, timings)
    say("")
    if unsandboxed:  # the summary's first line: nothing may hide it
        say(not_sandboxed_line(unsandboxed))
    say(summary_table(results))
    say("")
    _similarity(course, [p for p in todo if handed.get(p, True) is not None], say)
    say(f"grades: {csv_path}\nfeedback: {course / GRADING / 'feedback'}/<student>/<assignment>/"
        f"\ntook {time.perf_counter() - t_start:.0f} s")
    return results


def course_config(course):
    """The course's nbgrader configuration, ``nbgrader_config.py``: the one place that sets
    the grading's limits (a cell's time, the notebook's, memory, output, the channel)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


def not_sandboxed_line(unsandboxed):
    """The summary's first line when a worker graded students' code without the sandbox."""
    names = ", ".join(map(str, sorted(unsandboxed, key=str)))
    reasons = "; ".join(sorted(set(unsandboxed.values())))
    return (f"GRADING WAS NOT SANDBOXED on worker(s) {names} ({reasons}): students' code "
            "ran as the grading user, with resource limits only")


def _similarity(course, pairs, say):
    """Flag near copies (similarity.py); a failure here never stops the grading."""
    from . import similarity

    try:
        rows = similarity.report(course, pairs)
    except Exception as err:  # noqa: BLE001 - a report, not a grade
        say(f"warning: no similarity report ({type(err).__name__}: {err})")
        return
    say(f"similar answers (flagged, no points deducted; {len(rows)} pair(s) at or above "
        f"{similarity.THRESHOLD:.0%} in {course / GRADING / 'similarity.csv'}):")
    for r in rows[:20]:
        say(f"similar: {r['assignment']} {r['student']} ~ {r['other']} {r['similarity']:.2f}")
    if len(rows) > 20:
        say(f"similar: ... {len(rows) - 20} more in the CSV")
    say("")


def handin(folder, name):
    """What of a submission folder is graded: (files by relative path, or None; notes).

    Only the notebook ``<name>.ipynb`` (a regular file, valid notebook JSON) and
    nbgrader's ``timestamp.txt`` travel to the grader. Anything else next to them (a
    ``numpy.py``, a ``bpcourse/`` folder) would sit in the kernel's working folder and
    shadow the modules it imports: it is left behind, and the summary says so. A missing
    notebook (under another name), a link, or a file that is not a notebook is not
    graded, with a line that says which.
    """
    import nbformat

    folder = Path(folder)
    nb, stamp = folder / f"{name}.ipynb", folder / "timestamp.txt"
    others = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                    if p not in (nb, stamp) and (p.is_symlink() or not p.is_dir()))
    if nb.is_symlink():
        return None, [f"not graded: {name}.ipynb is a symbolic link (links are not followed)"]
    if not nb.is_file():
        found = [o for o in others if o.endswith(".ipynb")]
        what = (f"found {', '.join(found[:3])}" if found else
                f"the folder holds {', '.join(others[:3]) or 'nothing'}")
        return None, [f"not graded: {name}.ipynb missing; {what}"]
    data = nb.read_bytes()
    try:
        nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as err:  # noqa: BLE001 - anything that is not a notebook
        return None, [f"not graded: {name}.ipynb is not a valid notebook "
                      f"({type(err).__name__})"]
    files = {nb.name: data}
    if stamp.is_file() and not stamp.is_symlink():
        files[stamp.name] = stamp.read_bytes()
    notes = [f"ignored {len(others)} other file(s) next to the notebook: "
             f"{', '.join(others[:3])}{' ...' if len(others) > 3 else ''}"] if others else []
    return files, notes


def default_workers():
    """Worker processes of the local cluster: one per core."""
    return os.cpu_count() or 1


def _cluster(workers, scheduler, n_tasks):
    """A Dask client: of the cluster at ``scheduler``, or of a new local one (and it)."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout=60), None
    import dask

    n = max(1, min(workers or default_workers(), n_tasks))
    # Dask's statistical profiler samples the worker's threads every 10 ms: time taken
    # from the kernels on a busy core, for a dashboard view grading does not need.
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=":0",
                               silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _grade_on_dask(course, todo, key, timeout, workers, scheduler, notes, timings, unsandboxed,
                   say, quiet, t_start):
    import uuid

    from . import tasks

    client, cluster = _cluster(workers, scheduler, len(todo))
    try:
        if "dashboard" in client.scheduler_info().get("services", {}):
            say(f"Dask dashboard: {client.dashboard_link}")
        try:
            client.register_plugin(tasks.SlotPlugin(
                (course / "nbgrader_config.py").read_text(),
                (course / GRADING / "gradebook.db").read_bytes(), course,
                tasks.environment(), key))
        except Exception:  # noqa: BLE001 - a worker that cannot load it is refused below
            pass
        accepted = _accepted(client, say, unsandboxed)
        if not accepted:
            raise RuntimeError("no Dask worker can grade (each was refused, see above)")
        where = f"the Dask cluster at {scheduler}" if scheduler else "a local Dask cluster"
        say(f"grading on {len(accepted)} worker(s) of {where}")
        run = uuid.uuid4().hex[:8]
        futures = {}
        for (student, name), files in todo.items():
            sub = tasks.Submission(student, name, files, run)
            fut = client.submit(tasks.grade_task, sub, timeout, pure=False,
                                key=f"grade-{student}-{name}-{run}",
                                resources={tasks.SLOT: 1})
            futures[fut] = (student, name)
        _collect(client, futures, course, notes, timings, timeout, run, quiet, t_start)
    finally:
        try:
            client.unregister_worker_plugin(tasks.PLUGIN)  # the slots are freed
        except Exception:  # noqa: BLE001 - a cluster that is going away
            pass
        client.close()
        if cluster is not None:
            cluster.close()


def _accepted(client, say, unsandboxed):
    """Names of the workers that may grade; the others are named, with the reason.

    ``unsandboxed`` gets {name: why} of the accepted workers that grade without the
    sandbox (no root, no namespaces).
    """
    from . import tasks

    names = {addr: w.get("name") for addr, w in client.scheduler_info()["workers"].items()}
    accepted = []
    for addr, status in sorted(client.run(tasks.status, on_error="return").items()):
        if isinstance(status, BaseException):  # it could not even run this code
            name, why, bare = names.get(addr, addr), (
                "its checkout cannot run this course's grading code "
                f"({type(status).__name__}: {status})"), ""
        else:  # a worker at another commit may answer in another shape
            name, why, *rest = status
            bare = rest[0] if rest else ""
        if why:
            say(f"worker {name} ({addr}) refused: {why}")
        else:
            accepted.append(name)
            if bare:
                unsandboxed[name] = bare
    return sorted(accepted, key=str)


def _starts(client, run):
    """{(student, assignment): [(time, worker name), ...]}: each start of a task of ``run``."""
    from . import tasks

    out = {}
    for t, msg in client.get_events(tasks.EVENTS):
        if isinstance(msg, dict) and msg.get("run") == run:
            out.setdefault((msg["student"], msg["assignment"]), []).append((t, msg["name"]))
    return out


def _collect(client, futures, course, notes, timings, timeout, run, quiet, t_start):
    """Store each result as it arrives; stop a worker whose task runs past its limit."""
    from distributed import KilledWorker, wait
    from distributed import TimeoutError as DaskTimeout
    from tqdm import tqdm

    cfg = course_config(course)
    limit = submission_seconds(timeout or cfg.ExecutePreprocessor.get("timeout", 120),
                               cfg.SandboxedExecute.get("notebook_seconds", 0))
    bar = tqdm(total=len(futures), unit="submission", desc="autograding", disable=quiet,
               file=sys.stderr, dynamic_ncols=True)
    pending, done, stopped, checked = set(futures), 0, set(), time.monotonic()
    while pending:
        try:
            finished, pending = wait(pending, timeout=5, return_when="FIRST_COMPLETED")
        except DaskTimeout:
            finished = set()
        for fut in finished:
            pair = futures[fut]
            try:
                graded = fut.result()
                t0 = time.perf_counter()
                _store(course, graded, notes)
                timings[pair] = (graded.seconds, time.perf_counter() - t0)
            except KilledWorker:
                notes.setdefault(pair, []).append(
                    "crash: every grading worker that took it died or was stopped "
                    "(not graded)")
            except Exception as err:  # noqa: BLE001 - one submission, not the batch
                notes.setdefault(pair, []).append(
                    f"crash: grading failed ({type(err).__name__}: {str(err)[:80]})")
            # Stored: the cluster forgets it, so a worker restarted later (the watchdog)
            # does not take the result with it and have the submission graded again.
            fut.release()
            done += 1
            if not quiet:
                tqdm.write(f"  [{done}/{len(futures)}] {pair[0]} {pair[1]} "
                           f"({time.perf_counter() - t_start:.0f} s elapsed)", file=sys.stdout)
            bar.update(1)
        if pending and time.monotonic() - checked > WATCH_SECONDS:  # not on every result:
            checked = time.monotonic()  # the events of a whole class are many
            _stop_overdue(client, [futures[f] for f in pending], _starts(client, run), limit,
                          stopped, notes)
    bar.close()
    for pair, tried in _starts(client, run).items():  # once, when every task is done
        if len(tried) > 1:
            notes.setdefault(pair, []).append(
                f"retried: graded {len(tried)} times, its grading worker died or was stopped")


def _stop_overdue(client, pending, starts, limit, stopped, notes):
    """Restart the worker of a task past its limit (a kernel nothing stops); the scheduler
    then gives the task to another worker, or gives up on it."""
    now = time.time()
    workers = {str(w.get("name")): addr for addr, w in client.scheduler_info()["workers"].items()}
    for pair in pending:
        tried = starts.get(pair)
        if tried and tried[-1] not in stopped and now - tried[-1][0] > limit \
                and tried[-1][1] in workers:
            stopped.add(tried[-1])
            notes.setdefault(pair, []).append(
                f"crash: its grading worker was stopped after {limit} s")
            client.restart_workers([workers[tried[-1][1]]], raise_for_error=False)


def read_grades(course):
    """The exported CSV as a list of dicts."""
    with open(Path(course) / GRADING / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))
