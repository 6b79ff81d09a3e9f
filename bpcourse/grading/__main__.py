"""python -m bpcourse.grading {release,grade,notebooks}: the instructor's commands."""

import argparse
import sys

from . import driver


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bpcourse.grading", description=__doc__)
    p.add_argument("--course", default=".", help="course folder (holds nbgrader_config.py)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("release", help="regenerate assignments/ from solutions/")
    r.add_argument("names", nargs="*", help="assignments (default: all)")
    r.add_argument("--out", help="release into this folder instead of assignments/")
    g = sub.add_parser("grade", help="autograde every submission, feedback, CSV, summary")
    g.add_argument("--timeout", type=int, help="seconds per cell (default: nbgrader_config.py)")
    g.add_argument("--force", action="store_true", help="regrade submissions graded before")
    g.add_argument("--workers", type=int, help="parallel workers (default: cores + 1)")
    sub.add_parser("notebooks", help="rewrite solutions/ from bpcourse/grading/notebooks.py")
    args = p.parse_args(argv)
    if args.cmd == "release":
        return 1 if driver.release(args.course, args.out, args.names or None) else 0
    if args.cmd == "grade":
        driver.grade(args.course, timeout=args.timeout, force=args.force, workers=args.workers)
        return 0
    from .notebooks import write

    for path in write(args.course):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
