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
    """Build the book once per session (all pages re-read, execution cache kept).

    Returns ``(completed process, seconds)``; tests/test_book.py checks the build and every
    page, the other book tests (quizzes, interactive figures) use the pages it built.
    """
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shutil.rmtree(root / "_build" / "screenshots", ignore_errors=True)  # no stale screenshot
    fetch = subprocess.run(["bash", str(root / "book/_scripts/fetch_js.sh")],
                           capture_output=True, text=True)
    if fetch.returncode:
        pytest.fail(f"fetching MathJax/widget JS from npm failed:\n{fetch.stderr}")
    start = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(root), "--all", "-W",
         "-n", "--keep-going"], capture_output=True, text=True, cwd=root)
    return proc, time.perf_counter() - start
