import numpy as np
import pytest

# Tiers (see the Makefile): `make test-fast` runs what is neither `slow` nor `mnist`.
# Such a test is hermetic: it sees an empty data folder and cannot fetch MNIST, so a test
# that quietly needs the data set fails here instead of making the fast tier slow.
NEEDS_DATA = ("mnist", "slow")


@pytest.fixture(autouse=True)
def _hermetic_unless_marked(request, monkeypatch, tmp_path_factory):
    if any(request.node.get_closest_marker(m) for m in NEEDS_DATA):
        return
    from bpcourse import mnist

    def refuse(*args, **kwargs):
        raise RuntimeError(f"{request.node.nodeid} reads MNIST: mark it "
                           "@pytest.mark.mnist (or slow), or give it data of its own")

    monkeypatch.setenv("BPCOURSE_DATA", str(tmp_path_factory.mktemp("no-mnist")))
    monkeypatch.setenv("BPCOURSE_OFFLINE", "1")
    monkeypatch.setattr(mnist, "_from_wheel", refuse)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def built_book():
    """Build the book once (all pages re-read, execution cache kept).

    Returns ``(completed process, seconds)``; tests/test_book.py checks the build and every
    page, the other book tests (quizzes, interactive figures) use the pages it built.

    ``make test`` runs the build with the serial tests, then the page checks beside the
    other tests in xdist workers: it sets $BPCOURSE_BOOK_BUILD to one id for both parts,
    and a session (or worker) that finds the record of a build with that id and the same
    sources reuses it. Without the variable every session builds. A lock lets one worker
    build while the others wait.
    """
    import fcntl
    import hashlib
    import json
    import os
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    build_id = os.environ.get("BPCOURSE_BOOK_BUILD")
    sources = hashlib.sha256()
    if build_id:  # only a shared build needs to know its sources
        for path in sorted([root / "_config.yml", root / "_toc.yml",
                            *(p for d in ("book", "bpcourse") for p in (root / d).rglob("*")
                              if p.is_file() and "_vendor" not in p.parts
                              and "__pycache__" not in p.parts)]):
            sources.update(f"{path.relative_to(root)}\0".encode() + path.read_bytes())
    record = root / "_build" / "book-build.json"
    record.parent.mkdir(exist_ok=True)
    with open(root / "_build" / "book-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if build_id and record.exists():
            done = json.loads(record.read_text())
            if (done["id"], done["sources"]) == (build_id, sources.hexdigest()):
                return (subprocess.CompletedProcess(done["args"], done["returncode"],
                                                    done["stdout"], done["stderr"]),
                        done["seconds"])
        record.unlink(missing_ok=True)
        shutil.rmtree(root / "_build" / "screenshots", ignore_errors=True)  # none stale
        fetch = subprocess.run(["bash", str(root / "book/_scripts/fetch_js.sh")],
                               capture_output=True, text=True)
        if fetch.returncode:
            pytest.fail(f"fetching MathJax/widget JS from npm failed:\n{fetch.stderr}")
        start = time.perf_counter()
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "jupyter-book"), "build", str(root), "--all",
             "-W", "-n", "--keep-going"], capture_output=True, text=True, cwd=root)
        seconds = time.perf_counter() - start
        if build_id:
            record.write_text(json.dumps({
                "id": build_id, "sources": sources.hexdigest(), "args": proc.args,
                "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                "seconds": seconds}))
    return proc, seconds
