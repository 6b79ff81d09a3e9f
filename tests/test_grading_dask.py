"""make grade on Dask: real clusters on loopback, started and stopped by the tests.

* A LocalCluster of 2 worker processes grades honest and buggy submissions to exactly the
  scores that serial ``nbgrader autograde`` gives the same batch.
* A worker killed (by its pid) while it grades: the batch completes, every submission is
  in the gradebook once, and the summary says which was retried.
* A worker whose course checkout is at another commit is refused with the reason, and
  the others grade.
* A task past its time limit has its worker restarted (the watchdog) until the scheduler
  gives up on it; the batch goes on.
(The adversarial corpus, test_grading_adversarial.py, runs through the same Dask path.)
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from support import submit
from test_assignments import BUGS, ROOT, buggy_notebook

from bpcourse.grading import BEHAVIOURS, driver

pytestmark = pytest.mark.slow
TIMEOUT = 20  # seconds per cell; honest ps1 cells take well under one
CELLS = sum(b.assignment == "ps1" for b in BEHAVIOURS.values())  # graded cells of ps1
PS1_BUGS = sorted(s for s, spec in BUGS.items() if spec[0] == "ps1" and spec[5])


def _course(tmp_path, name, students=("solution", "release", *PS1_BUGS)):
    course = tmp_path / name
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    (source,) = driver.build_sources(course, ["ps1"])
    staging = tmp_path / f"{name}-staging"
    for student in students:
        if student == "solution":
            submit(course, student, source)
        elif student == "release":
            submit(course, student, ROOT / "assignments" / "ps1" / "ps1.ipynb")
        else:
            _, grade_id, old, new, *_ = BUGS[student]
            path = staging / student / "ps1.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(buggy_notebook("ps1", grade_id, old, new), path)
            submit(course, student, path)
    return course


def _cell_scores(course):
    """{(student, cell): auto score} from a course's gradebook; each submission once."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / '_grading' / 'gradebook.db'}") as gb:
        subs = gb.assignment_submissions("ps1")
        students = [s.student.id for s in subs]
        assert len(students) == len(set(students))
        return {(s.student.id, g.name): g.auto_score for s in subs for nb in s.notebooks
                for g in nb.grades}


def test_local_cluster_scores_equal_serial_nbgrader(tmp_path):
    dask_course, serial = _course(tmp_path, "dask"), _course(tmp_path, "serial")
    results = driver.grade(dask_course, timeout=TIMEOUT, workers=2, quiet=True)
    assert {r.student: r.score for r in results}["solution"] == 13
    # Serial: nbgrader's own commands, one submission after the other, same configuration.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps1", "--force",
                    f"--CourseDirectory.release_directory={serial / '_grading' / 'release'}"],
                   cwd=serial, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "ps1", "--force",
                    f"--ExecutePreprocessor.timeout={TIMEOUT}"],
                   cwd=serial, env=env, check=True, capture_output=True, timeout=900)
    dask_scores, serial_scores = _cell_scores(dask_course), _cell_scores(serial)
    assert len(dask_scores) == CELLS * (2 + len(PS1_BUGS))
    assert dask_scores == serial_scores


@pytest.fixture
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0") as c, Client(c) as client:
        yield c, client


def test_a_task_past_its_limit_has_its_worker_stopped(tmp_path, monkeypatch):
    """The watchdog: a submission whose grading runs past its limit (a kernel that nothing
    else stops) has its worker restarted; the scheduler tries it again until it gives up,
    the summary says so, and the rest of the batch is graded."""
    monkeypatch.setattr(driver, "submission_seconds", lambda *a: 15)
    monkeypatch.setattr(driver, "WATCH_SECONDS", 2)
    course = _course(tmp_path, "overdue", ("solution",))
    nb = nbformat.read(course / "_grading" / "source" / "ps1" / "ps1.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(3600)"))
    nb.cells[-1].pop("id", None)
    path = tmp_path / "hangs" / "ps1.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    submit(course, "hangs", path)
    t0 = time.monotonic()
    # A cell limit far above the watchdog's: only the watchdog can end this grading. The
    # scheduler (in this process) gives up after one retry, not Dask's default three: each
    # try costs the limit, and one retry shows the same path.
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        results = {r.student: r for r in driver.grade(course, timeout=3000, workers=2,
                                                      quiet=True)}
    assert time.monotonic() - t0 < 300
    # Graded once: its result left the cluster when it was stored, so no restart of the
    # worker that held it has it graded again.
    assert results["solution"].score == 13 and results["solution"].problems == []
    problems = " ".join(results["hangs"].problems)
    assert "its grading worker was stopped after 15 s" in problems, problems
    assert "not graded" in problems and "retried" in problems, problems


def test_a_killed_worker_loses_no_submission(tmp_path, cluster):
    c, client = cluster
    students = ("solution", "release", "sigmoid-itself", "relu-in-place")
    course = _course(tmp_path, "killed", students)
    out = {}
    grading = threading.Thread(target=lambda: out.update(results=driver.grade(
        course, timeout=TIMEOUT, scheduler=c.scheduler_address, quiet=True)))
    grading.start()
    victim, deadline = None, time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy and client.get_events("bpcourse-grading"):
            time.sleep(1.0)  # well inside its grading (a submission takes a few seconds)
            victim = busy[0]
        time.sleep(0.1)
    assert victim, "no worker ever graded"
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    grading.join(timeout=600)
    assert not grading.is_alive()
    results = {r.student: r for r in out["results"]}
    assert set(results) == set(students)
    assert results["solution"].score == 13 and results["release"].score == 0
    assert results["sigmoid-itself"].score == 11 and results["relu-in-place"].score == 12
    retried = [s for s, r in results.items() if any(p.startswith("retried") for p in r.problems)]
    assert len(retried) == 1, {s: r.problems for s, r in results.items()}
    assert len(_cell_scores(course)) == CELLS * len(students)  # each one once
    for s in students:
        assert len(list((course / "_grading" / "autograded" / s / "ps1").glob("*.ipynb"))) == 1


def test_a_worker_at_another_commit_is_refused(tmp_path, cluster, capsys):
    c, client = cluster
    other = tmp_path / "other-checkout"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(other)], check=True)
    subprocess.run(["git", "-C", str(other), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-q", "--allow-empty", "-m", "another commit"], check=True)
    env = dict(os.environ, PYTHONPATH=str(other))  # its bpcourse, not this checkout's
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", c.scheduler_address,
         "--nthreads", "1", "--name", "elsewhere", "--no-dashboard"],
        cwd=other, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client.wait_for_workers(3, timeout=60)
        course = _course(tmp_path, "refused", ("solution", "sigmoid-itself"))
        results = driver.grade(course, timeout=TIMEOUT, scheduler=c.scheduler_address)
        said = capsys.readouterr().out
        assert "worker elsewhere" in said and "refused: course commit" in said, said
        assert "grading on 2 worker(s)" in said
        assert {r.student: r.score for r in results} == {"solution": 13, "sigmoid-itself": 11}
        names = {m["name"] for _, m in client.get_events("bpcourse-grading")}
        assert names and "elsewhere" not in names
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def test_a_worker_without_the_sandbox_is_the_summarys_first_line(tmp_path, monkeypatch,
                                                                   capsys):
    """Where a worker cannot sandbox (no root), the summary starts by saying so."""
    from distributed import Client, LocalCluster

    from bpcourse.grading import sandbox

    # An in-process worker (threads, not processes) sees this process's sandbox probe.
    monkeypatch.setattr(sandbox, "_available", (False, "not running as root"))
    for key in ("BPCOURSE_COURSE_ROOT", "PATH"):  # the slot sets them in its process
        monkeypatch.setenv(key, os.environ.get(key, ""))
    course = _course(tmp_path, "bare", ("solution",))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as c, Client(c):
        results = driver.grade(course, timeout=TIMEOUT, scheduler=c.scheduler_address)
    out = capsys.readouterr().out.splitlines()
    table = out.index(next(line for line in out if line.startswith("student ")))
    assert out[table - 1].startswith("GRADING WAS NOT SANDBOXED on worker(s) 0 "
                                     "(not running as root)"), out
    assert [r.score for r in results] == [13]
