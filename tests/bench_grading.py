"""Benchmark: 40 submissions of ps3, serial `nbgrader autograde` against `make grade`.

    python tests/bench_grading.py [--n 40] [--assignment ps3]     (make bench-grading)

Two copies of the course get the same 40 submissions (the solution, the release and
realistic buggy versions, in turn). In the first, one `nbgrader autograde` command grades
them one after the other; in the second, `python -m bpcourse.grading grade` (what
`make grade` runs) grades them in parallel workers, writes the feedback and exports the
CSV. Both use the course's nbgrader_config.py, so both run the hardened pipeline (sandbox,
grader-side checks). Prints both wall times, their ratio, and whether every score agrees.
Not part of `make test`: it takes a few minutes.
"""

import argparse
import csv
import os
import shutil
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--assignment", default="ps3")
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
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "bpcourse.grading", "--course",
                              str(parallel), "grade"], cwd=parallel, env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        t_parallel = time.perf_counter() - t0
        print(f"`make grade` (autograde + feedback + CSV, parallel): {t_parallel:.1f} s "
              f"(exit {run.returncode})")
        a, b = _scores(serial), _scores(parallel)
        same = a == b
        print(f"ratio parallel / serial: {t_parallel / t_serial:.2f} (target <= 0.6)")
        print(f"scores identical: {same} ({sum(a.values()):g} points in all)")
        if not same:
            for s in sorted(set(a) | set(b)):
                if a.get(s) != b.get(s):
                    print(f"  {s}: serial {a.get(s)}, parallel {b.get(s)}")
        return 0 if same and run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
