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
