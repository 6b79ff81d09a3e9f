"""python -m bpcourse.grading {build,release,collect,grade}: the instructor's commands.

The instructor edits solutions/<ps>/<ps>.md (MyST markdown notebooks); ``build`` converts
them to nbgrader's source notebooks in _grading/source/, and ``release`` and ``grade`` do
that first themselves.
"""

import argparse
import sys

from . import driver


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bpcourse.grading", description=__doc__)
    p.add_argument("--course", default=".", help="course folder (holds nbgrader_config.py)")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build _grading/source/ (nbgrader's source) from solutions/")
    b.add_argument("names", nargs="*", help="assignments (default: all)")
    r = sub.add_parser("release", help="build, then regenerate assignments/ from solutions/")
    r.add_argument("names", nargs="*", help="assignments (default: all)")
    r.add_argument("--out", help="release into this folder instead of assignments/")
    k = sub.add_parser("collect", help="import an LMS download (a zip of hand-ins) into "
                       "_grading/submitted/ with nbgrader's zip_collect")
    k.add_argument("zip", help="the zip of submissions, as downloaded from Canvas or Moodle")
    k.add_argument("--assignment", help="its assignment (default: told by the notebooks' names)")
    k.add_argument("--force", action="store_true", help="replace students collected before")
    g = sub.add_parser("grade", help="autograde every submission, feedback, CSV, summary")
    g.add_argument("--timeout", type=int, help="seconds per cell (default: nbgrader_config.py)")
    g.add_argument("--force", action="store_true", help="regrade submissions graded before")
    g.add_argument("--workers", type=int,
                   help="worker processes of the local Dask cluster (default: one per core)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on the Dask cluster at ADDRESS (tcp://host:8786) instead")
    args = p.parse_args(argv)
    if args.cmd == "release":
        return 1 if driver.release(args.course, args.out, args.names or None) else 0
    if args.cmd == "collect":
        from .collect import collect

        try:
            report = collect(args.zip, args.course, args.assignment, args.force)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print("\n".join(report.lines()))
        return 1 if report.error else 0
    if args.cmd == "grade":
        driver.grade(args.course, timeout=args.timeout, force=args.force, workers=args.workers,
                     scheduler=args.scheduler)
        return 0
    for path in driver.build_sources(args.course, args.names or None):
        print("built", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
