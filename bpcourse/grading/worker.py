"""A grading worker: autogrades, then writes the feedback of, one submission at a time.

``python -m bpcourse.grading.worker [--timeout s]``, started by ``driver.grade`` in a
private copy of the course (its own ``nbgrader_config.py`` and gradebook), reads lines
``<student>\\t<assignment>`` on stdin; for each it runs nbgrader's autograde and
generate_feedback in this one process (nbgrader's ``NbGraderAPI``: no start-up per
submission) and answers ``DONE\\t<student>\\t<assignment>\\t<ok>``. The notebook itself
runs in the sandbox of the worker's slot (the first free one from
``$BPCOURSE_SANDBOX_SLOT`` on, see sandbox.acquire_slot and harden.py).
"""

import argparse
import os
import sys
import warnings


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--timeout", type=int)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    if args.timeout:
        config.ExecutePreprocessor.timeout = args.timeout
    api = NbGraderAPI(config=config)
    out = sys.stdout
    from . import sandbox

    # The slot (and so the grading user) this process holds until it ends; the driver
    # kills that user's processes, and only that user's, if this worker hangs.
    slot = sandbox.acquire_slot(int(os.environ.get("BPCOURSE_SANDBOX_SLOT", "0"))) \
        if sandbox.available()[0] else -1
    print(f"READY\t{slot}", file=out, flush=True)
    for line in sys.stdin:
        student, assignment = line.rstrip("\n").split("\t")
        print(f"Autograding {student}/{assignment}", file=out, flush=True)
        res = api.autograde(assignment, student, force=True, create=True)
        ok = bool(res.get("success"))
        log = res.get("log", "") + (res.get("error") or "")
        if ok:
            fb = api.generate_feedback(assignment, student, force=True)
            log += fb.get("log", "") + (fb.get("error") or "")
            ok = bool(fb.get("success"))
        for text in log.splitlines():
            print("  " + text, file=out)
        print(f"DONE\t{student}\t{assignment}\t{int(ok)}", file=out, flush=True)


if __name__ == "__main__":
    main()
