"""Save and load a network as JSON, bit for bit.

The file records the architecture and every parameter array as base64 of its
little-endian bytes (exact, and ~4x smaller than decimal text), with a SHA-256 per array
so a damaged file is caught. ``load_json`` also accepts arrays written as nested lists,
as a student might write them by hand.
"""

import base64
import hashlib
import json
from pathlib import Path

import numpy as np

from .mlp import MLP

__all__ = ["load_json", "save_json"]

FORMAT = "bpcourse-mlp"
VERSION = 1


def _encode(a):
    data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
    return {"shape": list(a.shape), "dtype": a.dtype.name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "data": base64.b64encode(data).decode("ascii")}


def save_json(net, path):
    """Write ``net`` (sizes, activation, output, loss, init, dtype, dropout, params) as JSON."""
    doc = {"format": FORMAT, "version": VERSION, "sizes": net.sizes,
           "activation": net.activation, "output": net.output, "loss": net.loss_name,
           "init": net.init, "dtype": net.dtype.name, "dropout": net.dropout,
           "params": {k: _encode(v) for k, v in net.params.items()}}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)  # never leave a half-written model file
    return path


def load_json(path):
    """Read a network written by ``save_json``; raise ValueError naming what is wrong."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"model file {path} is not valid JSON (truncated or damaged?): "
                         f"{err}") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"model file {path} is not a text file: {err}") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"model file {path} is not a bpcourse model (expected "
                         f"\"format\": \"{FORMAT}\")")
    missing = [k for k in ("sizes", "activation", "output", "loss", "dtype", "params")
               if k not in doc]
    if missing:
        raise ValueError(f"model file {path} lacks the field(s) {', '.join(missing)}")
    net = MLP(doc["sizes"], activation=doc["activation"], output=doc["output"],
              loss=doc["loss"], init=doc.get("init"), dtype=doc["dtype"], seed=0,
              dropout=doc.get("dropout", 0.0))  # files written before dropout existed
    params = doc["params"]
    if not isinstance(params, dict) or set(params) != set(net.params):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"model file {path}: params must have keys {sorted(net.params)}, "
                         f"got {got}")
    for k, expected in net.params.items():
        net.params[k] = _decode(params[k], k, expected, path)
    return net


def _decode(entry, key, expected, path):
    where = f"model file {path}, parameter {key!r}"
    if isinstance(entry, list):  # written by hand as nested lists
        try:
            a = np.array(entry, dtype=expected.dtype)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}: not a numeric array ({err})") from err
    elif isinstance(entry, dict) and isinstance(entry.get("data"), str):
        try:
            data = base64.b64decode(entry["data"], validate=True)
            a = np.frombuffer(data, dtype=np.dtype(entry["dtype"]).newbyteorder("<"))
            a = a.reshape(entry["shape"]).astype(expected.dtype)
        except (ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{where} is damaged: {err}") from err
        if "sha256" in entry and hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ValueError(f"{where} does not match its checksum (damaged file)")
    else:
        raise ValueError(f"{where} must be a list or an encoded array")
    if a.shape != expected.shape:
        raise ValueError(f"{where} has shape {a.shape}, expected {expected.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where} contains NaN or inf")
    return a.copy()
