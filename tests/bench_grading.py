"""Benchmark: 40 submissions of ps3, serial `nbgrader autograde` against `make grade`.

    python tests/bench_grading.py [--n 40] [--assignment ps3]     (make bench-grading)

Two copies of the course get the same 40 submissions (the solution, the release and
realistic buggy versions, in turn). In the first, one `nbgrader autograde` command grades
them one after the other; in the second, `driver.grade` (what `make grade` runs) grades
them on a Dask LocalCluster (one worker process per core), writes the feedback and exports
the CSV. Both use the course's nbgrader_config.py, so both run the hardened pipeline
(sandbox, grader-side checks). Prints both wall times, their ratio, whether every score
agrees, the cost of one submission in a worker (median, p95), the cluster's overhead per
task, and from those a projection for a term of 3,200 submissions.
Not part of `make test`: it takes a few minutes.
"""

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import submit  # noqa: E402
from test_assignments import BUGS, ROOT, buggy_notebook  # noqa: E402

from bpcourse.grading import driver  # noqa: E402


def _env():
    return dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep
                + os.environ.get("PATH", ""))


def _course(base, name, assignment, n):
    course = Path(base) / name
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "assignments", course / "assignments")
    staging = Path(base) / f"{name}-staging"
    (source,) = driver.build_sources(course, [assignment])
    variants = [source,
                ROOT / "assignments" / assignment / f"{assignment}.ipynb"]
    for student, (a, gid, old, new, *_) in sorted(BUGS.items()):
        if a == assignment:
            path = staging / f"{student}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(buggy_notebook(a, gid, old, new), path)
            variants.append(path)
    for i in range(n):
        submit(course, f"s{i:02d}", variants[i % len(variants)], assignment)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment,
                    "--force", f"--CourseDirectory.release_directory={course / '_rel'}"],
                   cwd=course, env=_env(), check=True, capture_output=True)
    return course


def _scores(course):
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to=bench.csv"], cwd=course,
                   env=_env(), check=True, capture_output=True)
    with open(course / "bench.csv", newline="") as f:
        return {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}


def _costs(results, wall, cores):
    """Per-submission cost, the cluster's overhead per task, and a projection."""
    cost = sorted(r.seconds for r in results if r.seconds is not None)
    store = [r.store_seconds for r in results if r.store_seconds is not None]
    median, p95 = statistics.median(cost), cost[min(len(cost) - 1, int(0.95 * len(cost)))]
    # What the workers did not spend grading: start-up, scheduling, transfer, idle ends.
    overhead = (wall * cores - sum(cost)) / len(cost)
    print(f"one submission in a worker: median {median:.2f} s, p95 {p95:.2f} s; writing it "
          f"home (client, serial): median {statistics.median(store) * 1000:.0f} ms")
    print(f"cluster overhead per task: {overhead:.2f} s of worker time "
          f"({wall:.1f} s x {cores} workers - {sum(cost):.1f} s grading, over {len(cost)})")
    n = 3200
    print(f"projection for {n} submissions (assumes: this assignment's median cost, "
          "the overhead per task measured here, perfect scaling over worker cores, one "
          "client writing results serially):")
    print("  worker cores   grading    client writes   wall (the larger)")
    for k in (1, 8, 64):
        work = n * (median + overhead) / k
        client = n * statistics.median(store)
        print(f"  {k:12d}   {work / 60:6.1f} min   {client / 60:6.1f} min      "
              f"{max(work, client) / 60:6.1f} min")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--assignment", default="ps3")
    p.add_argument("--workers", type=int, help="Dask worker processes (default: make grade's)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as base:
        serial = _course(base, "serial", args.assignment, args.n)
        parallel = _course(base, "parallel", args.assignment, args.n)
        print(f"{args.n} submissions of {args.assignment}, {os.cpu_count()} cores", flush=True)
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", args.assignment],
                             cwd=serial, env=_env(), capture_output=True, text=True)
        t_serial = time.perf_counter() - t0
        print(f"serial `nbgrader autograde`: {t_serial:.1f} s (exit {run.returncode})",
              flush=True)
        # What make grade also does for each submission: its feedback page.
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", args.assignment],
                       cwd=serial, env=_env(), capture_output=True, text=True)
        t_feedback = time.perf_counter() - t0
        print(f"serial `nbgrader generate_feedback` after it: {t_feedback:.1f} s "
              f"({t_feedback / args.n:.2f} s a submission)", flush=True)
        t0 = time.perf_counter()
        results = driver.grade(parallel, quiet=True, workers=args.workers)
        t_parallel = time.perf_counter() - t0
        workers = args.workers or driver.default_workers()
        print(f"`make grade` (Dask LocalCluster, {workers} workers; autograde + "
              f"feedback + CSV): {t_parallel:.1f} s")
        _costs(results, t_parallel, workers)
        a, b = _scores(serial), _scores(parallel)
        same = a == b
        print(f"ratio make grade / serial: {t_parallel / t_serial:.2f} (target <= 0.5)")
        # make grade also writes every feedback page, which the serial autograde does not:
        # on k cores the ratio cannot go below (autograde + feedback) / (k x autograde).
        floor = (t_serial + t_feedback) / (workers * t_serial)
        print(f"ratio make grade / serial autograde + feedback (the same work): "
              f"{t_parallel / (t_serial + t_feedback):.2f}; the bound for {workers} workers "
              f"doing the same work as serial autograde and its feedback: {floor:.2f}")
        print(f"scores identical: {same} ({sum(a.values()):g} points in all)")
        if not same:
            for s in sorted(set(a) | set(b)):
                if a.get(s) != b.get(s):
                    print(f"  {s}: serial {a.get(s)}, parallel {b.get(s)}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
