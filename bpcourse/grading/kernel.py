"""The grading channel, the student's side: what a test cell runs in the student's kernel.

A test cell's hidden part is ``record("sigmoid", sigmoid)``. When grading, the kernel
holds no check, no reference and no check input: ``record`` connects to the grader over a
Unix socket (``$BPCOURSE_CHANNEL``, in the folder the sandbox shares with the grader) and
*serves* the student's function. The grader runs the check in its own process and calls
the function remotely: it sends each call's arguments (inputs drawn at grading time from
the course's secret key), the kernel calls the student's function and sends back the
result and the state of the arguments afterwards (an update in place, a rebound dict
entry, a generator's draws). The helpers a check isolates (the reference
``dense_backward`` handed to a student's ``mlp_backward``) are proxies here: each call
goes back to the grader, and only while that check runs. So patching NumPy, the builtins
or this module in the notebook changes nothing the grader compares, a table of answers
computed at home meets inputs it has never seen, and no reference code is in the kernel
to be kept.

Outside grading (no ``$BPCOURSE_CHANNEL``: the student's own Jupyter, the instructor's
solution notebooks), ``record``, ``explain`` and ``diagnose`` run the check right here,
with the package's checks and the public seeds.

This module imports only the standard library and NumPy: the sandbox shows the kernel
this file and the tools an assignment hands out, nothing that grades.

The wire format is plain data both ways, so neither side ever unpickles the other's
bytes: a frame is a JSON header (numbers, strings, lists, dicts) followed by raw array
buffers, each side capping what it reads.
"""

import base64
import builtins
import hashlib
import json
import os
import socket
import struct
import tempfile
import time
import types

import numpy as np

__all__ = ["CHANNEL", "CheckFailed", "diagnose", "explain", "record"]

CHANNEL = "BPCOURSE_CHANNEL"  # the environment variable naming the grader's socket
MAX_ITEMS = 100_000  # list/dict entries in one message, in all
MAX_STR = 2000
MAX_FILE = 1 << 20  # bytes of a file written by the student's function (save_model)
MAX_HEADER = 8 << 20
MAX_MESSAGE = 96 << 20  # bytes of one message, buffers included (an MNIST subset is 31 MB)
RNG_STATES = ("PCG64", "PCG64DXSM", "SFC64", "Philox")  # generators that travel as state


class CheckFailed(AssertionError):
    """A check of a student's function failed; the message says why.

    ``mistake`` names the common mistake recognised (a key of ``MISTAKES``) or is None;
    ``outcome`` is "failed", or "not_written" for a function that still raises
    NotImplementedError. Both travel as fields to the grader's summary.
    """

    def __init__(self, message, mistake=None, outcome="failed"):
        super().__init__(message)
        self.mistake, self.outcome = mistake, outcome


class ChannelBroken(BaseException):  # noqa: N818 (not an Exception: checks must not catch it)
    """The other side closed the channel, or sent something that is not a message."""


class Opaque:
    """What an unsupported object sent over the channel becomes."""

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _opaque(name):
    name = "".join(c for c in str(name) if c.isalnum() or c == "_")[:40] or "object"
    return type(name, (Opaque,), {})()


# -- plain data ------------------------------------------------------------------------
def _is_mlp(x):
    return type(x).__name__ == "MLP" and type(getattr(x, "params", None)) is dict \
        and hasattr(x, "sizes")


def encode(x, bufs, budget=None, depth=0):
    """x as JSON-able plain data, arrays appended to ``bufs``; anything else opaque."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > 12:
        return {"opaque": "too large"}
    if x is None or type(x) in (bool, int, float):
        if type(x) is int and abs(x) > 2**62:
            return {"opaque": "int"}
        return {"v": x}
    if type(x) is str:
        return {"s": x[:MAX_STR]}
    if isinstance(x, (np.ndarray, np.generic)):
        a = np.asarray(x)
        if a.dtype.kind not in "biufc" or a.dtype.itemsize > 16:
            return {"opaque": f"array of dtype {a.dtype}"}
        bufs.append(np.ascontiguousarray(a).tobytes())
        return {"nd": a.dtype.str, "shape": list(a.shape), "buf": len(bufs) - 1}
    if type(x) in (list, tuple):
        return {type(x).__name__: [encode(v, bufs, budget, depth + 1) for v in x]}
    if type(x) is dict:
        if not all(type(k) is str for k in x):
            return {"opaque": "dict"}
        return {"dict": [[k[:MAX_STR], encode(v, bufs, budget, depth + 1)] for k, v in x.items()]}
    if type(x) is np.random.Generator:
        state = x.bit_generator.state
        if state.get("bit_generator") not in RNG_STATES:
            return {"opaque": "Generator"}
        return {"rng": json.loads(json.dumps(state, default=int))}
    if _is_mlp(x):  # the network an assignment hands out (ps4): rebuilt on the other side
        return {"mlp": {"sizes": [int(s) for s in x.sizes], "activation": str(x.activation),
                        "output": str(x.output), "loss": str(x.loss_name),
                        "init": str(x.init), "dtype": str(np.dtype(x.dtype)),
                        "params": encode(x.params, bufs, budget, depth + 1)}}
    return {"opaque": type(x).__name__}


def decode(d, bufs, depth=0):
    """Plain Python and NumPy objects from ``encode``'s output, whatever its origin."""
    if depth > 12 or not isinstance(d, dict) or len(d) < 1:
        return _opaque("malformed")
    if "v" in d:
        v = d["v"]
        return v if v is None or type(v) in (bool, int, float) else _opaque("malformed")
    if "s" in d:
        return str(d["s"])[:MAX_STR]
    if "nd" in d:
        try:
            dt = np.dtype(str(d["nd"]))
            shape = tuple(int(s) for s in d["shape"])
            raw = bufs[int(d["buf"])]
        except (TypeError, ValueError, IndexError, KeyError):
            return _opaque("malformed")
        if dt.kind not in "biufc" or dt.itemsize > 16 or any(s < 0 for s in shape) \
                or len(raw) != dt.itemsize * int(np.prod(shape)):
            return _opaque("malformed")
        return np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    if "list" in d or "tuple" in d:
        items = d.get("list") if "list" in d else d.get("tuple")
        if not isinstance(items, list):
            return _opaque("malformed")
        items = [decode(v, bufs, depth + 1) for v in items]
        return items if "list" in d else tuple(items)
    if "dict" in d:
        try:
            return {str(k): decode(v, bufs, depth + 1) for k, v in d["dict"]}
        except (TypeError, ValueError):
            return _opaque("malformed")
    if "rng" in d:
        try:
            state = d["rng"]
            bg = getattr(np.random, state["bit_generator"])() \
                if state["bit_generator"] in RNG_STATES else None
            bg.state = state
            return np.random.Generator(bg)
        except Exception:
            return _opaque("malformed")
    if "mlp" in d:
        return _mlp(d["mlp"], bufs, depth)
    return _opaque(str(d.get("opaque", "object")))


def _mlp(m, bufs, depth):
    try:
        from bpcourse.mlp import MLP  # a tool of the assignment that hands networks out
    except ImportError:
        return _opaque("MLP")
    try:
        net = MLP([int(s) for s in m["sizes"]], activation=str(m["activation"]),
                  output=str(m["output"]), loss=str(m["loss"]), init=str(m["init"]),
                  dtype=str(m["dtype"]))
    except Exception:
        return _opaque("malformed")
    params = decode(m.get("params"), bufs, depth + 1)
    if isinstance(params, dict):
        net.params = params
    return net


def _file(path):
    """The state of a path argument after the call: the file the function wrote."""
    try:
        if os.path.isfile(path) and os.path.getsize(path) <= MAX_FILE:
            with open(path, "rb") as f:
                return {"file": base64.b64encode(f.read()).decode()}
    except OSError:
        pass
    return {"nofile": True}


def state(x, bufs):
    """What a check looks at in an argument after the call (arrays, dicts, a network...)."""
    if isinstance(x, _Path):
        return _file(x.local)
    return encode(x, bufs)


def _digest(x):
    bufs = []
    head = json.dumps(state(x, bufs), sort_keys=True).encode()
    h = hashlib.sha256(head)
    for b in bufs:
        h.update(b)
    return h.hexdigest()


def apply(arg, st, bufs, rebound=()):
    """Put the other side's after-call state ``st`` into this side's argument ``arg``.

    ``rebound``: keys of a dict argument whose value the function replaced by another
    object (``params[k] = p - lr * g``); this side's dict gets new objects there too.
    """
    if isinstance(arg, dict):
        for k in [k for k in rebound if k in arg]:
            arg[k] = arg[k].copy() if isinstance(arg[k], np.ndarray) else arg[k]
    if st is None or not isinstance(st, dict):
        return
    if "file" in st or "nofile" in st:
        if type(arg) is str and writable_path(arg):
            if "file" in st:
                with open(arg, "wb") as f:
                    f.write(base64.b64decode(str(st["file"]))[:MAX_FILE])
            elif os.path.isfile(arg):
                os.remove(arg)
        return
    if "rng" in st:
        if type(arg) is np.random.Generator:
            value = decode(st, bufs)
            if type(value) is np.random.Generator:
                arg.bit_generator.state = value.bit_generator.state
        return
    if "mlp" in st:
        value, arg = decode(st["mlp"].get("params"), bufs), getattr(arg, "params", None)
    else:
        value = decode(st, bufs)
    if isinstance(arg, np.ndarray):
        if isinstance(value, np.ndarray) and value.shape == arg.shape:
            arg[...] = value.astype(arg.dtype, copy=False)
    elif isinstance(arg, dict) and isinstance(value, dict):
        for k in [k for k in arg if k not in value]:
            del arg[k]
        for k, v in value.items():
            if isinstance(arg.get(k), np.ndarray) and isinstance(v, np.ndarray) \
                    and v.shape == arg[k].shape and k not in rebound:
                arg[k][...] = v.astype(arg[k].dtype, copy=False)
            else:
                arg[k] = v
    elif isinstance(arg, list) and isinstance(value, list):
        arg[:] = value


def writable_path(path):
    # Only files in this side's temporary folder are ever written from the other side.
    tmp = os.path.realpath(tempfile.gettempdir())
    return os.path.realpath(path).startswith(tmp + os.sep)


class _Path(str):
    """A path argument as the kernel sees it: a file in the kernel's own scratch folder."""

    local = ""


def exception(err):
    return {"type": type(err).__name__[:60], "msg": str(err)[:MAX_STR],
            "nie": isinstance(err, NotImplementedError)}


def reraise(e):
    """Raise, on this side, the exception the other side reported (plain data)."""
    if not isinstance(e, dict):
        raise RuntimeError("malformed exception")
    if e.get("nie"):
        raise NotImplementedError(str(e.get("msg", "")))
    name = "".join(c for c in str(e.get("type", "Error")) if c.isalnum() or c == "_")[:60]
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = type(name or "Error", (Exception,), {})
    raise cls(str(e.get("msg", "")))


def call(fn, args):
    """Call fn(*args) for the other side: (the reply's fields, its buffers).

    The reply holds the return value (a generator's items, materialised) or the exception,
    the seconds the call took, the state afterwards of each argument the call changed,
    and, for dict arguments, the keys whose value it replaced by another object.
    """
    bufs = []
    before = [_digest(a) for a in args]
    held = [{k: id(v) for k, v in a.items()} if type(a) is dict else None for a in args]
    t0 = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            out = fn(*args)
            if isinstance(out, (types.GeneratorType, map, filter, zip)) or (
                    hasattr(out, "__next__") and not isinstance(out, (np.ndarray, list, dict))):
                items, exc = [], None
                try:
                    for item in out:
                        items.append(encode(item, bufs))
                        if len(items) > 10_000:
                            break
                except Exception as err:
                    exc = err
                reply = {"iter": items, "iter_exc": exception(exc) if exc else None}
            else:
                reply = {"out": encode(out, bufs)}
    except Exception as err:
        reply = {"exc": exception(err)}
    reply["seconds"] = time.perf_counter() - t0
    reply["args"] = [None if _digest(a) == b else state(a, bufs)
                     for a, b in zip(args, before, strict=True)]
    reply["rebound"] = [None if h is None else
                        [str(k)[:MAX_STR] for k, v in a.items() if h.get(k) != id(v)]
                        for a, h in zip(args, held, strict=True)]
    return reply, bufs


def result(reply, bufs):
    """The return value (or exception) a reply hands back, as ``call`` captured it."""
    if "exc" in reply:
        reraise(reply["exc"])
    if "iter" in reply:
        items = [decode(v, bufs) for v in reply.get("iter") or []]
        exc = reply.get("iter_exc")

        def gen():
            yield from items
            if exc:
                reraise(exc)

        return gen()
    return decode(reply.get("out", {}), bufs)


def settle(args, reply, bufs):
    """Apply a reply's after-call states to this side's arguments."""
    states = reply.get("args") or [None] * len(args)
    rebound = reply.get("rebound") or [None] * len(args)
    if not (isinstance(states, list) and isinstance(rebound, list)
            and len(states) == len(args) == len(rebound)):
        raise ChannelBroken("a reply for another number of arguments")
    for a, s, r in zip(args, states, rebound, strict=True):
        apply(a, s, bufs, [str(k) for k in r] if isinstance(r, list) else ())


# -- frames ----------------------------------------------------------------------------
class Connection:
    """One side of a channel session: framed messages over a stream socket, capped."""

    def __init__(self, sock, limit=MAX_MESSAGE):
        self.sock, self.limit, self.open = sock, limit, True

    def send(self, header, bufs=()):
        head = json.dumps(header, allow_nan=True).encode()
        parts = [struct.pack(">II", len(head), len(bufs)), head]
        for b in bufs:
            parts += [struct.pack(">Q", len(b)), b]
        try:
            for p in parts:
                self.sock.sendall(p)
        except OSError as err:
            self.open = False
            raise ChannelBroken(f"the channel closed ({err})") from None

    def _read(self, n):
        chunks, got = [], 0
        while got < n:
            try:
                chunk = self.sock.recv(min(n - got, 1 << 20))
            except OSError as err:
                chunk, self.open = b"", False
                raise ChannelBroken(f"the channel closed ({err})") from None
            if not chunk:
                self.open = False
                raise ChannelBroken("the channel closed")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def recv(self):
        """(header dict, buffers); ChannelBroken for anything that is not a message."""
        size, nbuf = struct.unpack(">II", self._read(8))
        if size > MAX_HEADER or nbuf > MAX_ITEMS:
            raise ChannelBroken("a message larger than the channel allows")
        try:
            header = json.loads(self._read(size))
        except ValueError:  # includes invalid UTF-8
            raise ChannelBroken("a message that is not JSON") from None
        if not isinstance(header, dict):
            raise ChannelBroken("a message that is not a JSON object")
        total, bufs = size, []
        for _ in range(nbuf):
            (n,) = struct.unpack(">Q", self._read(8))
            total += n
            if total > self.limit:
                raise ChannelBroken(f"a message larger than {self.limit >> 20} MB")
            bufs.append(self._read(n))
        return header, bufs

    def close(self):
        self.open = False
        try:
            self.sock.close()
        except OSError:
            pass


def _connect():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ[CHANNEL])
    return Connection(sock)


def _grading():
    return CHANNEL in os.environ


# -- the student's side of a check -----------------------------------------------------
def _proxy(conn, name):
    """A helper the check isolates: each call is answered by the grader's reference."""

    def helper(*args):
        if not conn.open:
            raise RuntimeError(f"the course's {name} can only be called while its check runs")
        bufs = []
        conn.send({"op": "ref", "name": name, "args": [encode(a, bufs) for a in args]}, bufs)
        reply, rbufs = conn.recv()
        if reply.get("op") != "ref_result":
            raise ChannelBroken(f"expected the result of {name}")
        settle(args, reply, rbufs)
        return result(reply, rbufs)

    helper.__name__ = helper.__qualname__ = name
    return helper


_MISSING = object()


class Swap:
    """Within the block, ``ns`` (a notebook's globals, or None: nothing to swap) holds the
    given helpers in place of the student's; afterwards the student's again."""

    def __init__(self, ns, helpers):
        self.ns, self.helpers, self.saved = ns, helpers if ns is not None else {}, {}

    def __enter__(self):
        for name, fn in self.helpers.items():
            self.saved[name] = self.ns.get(name, _MISSING)
            self.ns[name] = fn
        return self

    def __exit__(self, *exc):
        for name, old in self.saved.items():
            if old is _MISSING:
                self.ns.pop(name, None)
            else:
                self.ns[name] = old
        return False


def _argument(arg, bufs, scratch, helpers):
    """A call's argument: a file to write in the scratch folder, a helper's proxy, data."""
    if isinstance(arg, dict) and set(arg) == {"path"}:
        p = _Path(os.path.join(scratch, os.path.basename(str(arg["path"])) or "file"))
        p.local = str(p)
        return p
    if isinstance(arg, dict) and set(arg) == {"ref"}:
        return helpers.get(str(arg["ref"])) or _opaque("function")
    if isinstance(arg, dict) and set(arg) == {"fn"}:
        return _tool(arg["fn"])
    return decode(arg, bufs)


def _tool(where):
    """A function of the package the assignment hands out (the activations in ps2)."""
    import importlib

    try:
        module, name = (str(w) for w in where)
        if not module.startswith("bpcourse."):
            raise ImportError(module)
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, TypeError, ValueError):
        return _opaque("function")


def _serve(name, fn, ns, via):
    """Serve fn to the grader's check ``name``: the grader's verdict as a dict."""
    conn = _connect()
    try:
        conn.send({"op": "check", "name": name, "via": via})
        scratch = tempfile.mkdtemp(prefix="check-")
        helpers = {}
        while True:
            msg, bufs = conn.recv()
            op = msg.get("op")
            if op == "isolates":
                helpers = {str(h): _proxy(conn, str(h)) for h in msg.get("names") or []}
            elif op == "call":
                encoded = msg.get("args") or []
                args = [_argument(a, bufs, scratch, helpers) for a in encoded]
                with Swap(ns, helpers):
                    reply, rbufs = call(fn, args)
                conn.send({"op": "result", **reply}, rbufs)
            elif op == "done":
                return msg
            else:  # "refused" or anything else: no verdict
                return {"op": "done", "passed": False, "outcome": "refused",
                        "message": str(msg.get("why", "the grader refused the check"))}
    finally:
        conn.close()


def _failure(verdict):
    """The CheckFailed of a grader's verdict, or None when it passed."""
    if verdict.get("passed"):
        return None
    return CheckFailed(str(verdict.get("message", "")), verdict.get("mistake"),
                       str(verdict.get("outcome", "failed")))


def _run_here(name, fn, ns):
    from .checks import run  # not grading: the package's checks, in this kernel

    run(name, fn, ns)


def record(name, fn, ns=None):
    """The hidden test of behaviour ``name``: the grader checks fn (here, when not grading)."""
    if not _grading():
        _run_here(name, fn, ns)  # an ordinary check that raises on failure
        return
    _serve(name, fn, ns, "record")  # the grader keeps the verdict; the cell shows nothing


def diagnose(name, fn, ns=None):
    """The CheckFailed of the full check ``name`` on fn, or None when it passes."""
    if _grading():
        return _failure(_serve(name, fn, ns, "explain"))
    try:
        _run_here(name, fn, ns)
    except CheckFailed as err:
        return err
    return None


class explain:  # noqa: N801 (used like a function: with explain(...):)
    """Run visible tests; if one fails, add the full check's diagnosis to its message.

    With ``ns`` (the notebook's globals()), the helpers the contract lists for the
    behaviour are the course's inside the block, as in the hidden check: the reference
    functions at home, the grader's answers (over the channel) when grading.
    """

    def __init__(self, name, fn, ns=None):
        self.name, self.fn, self.ns = name, fn, ns
        self._conn = self._swap = None

    def __enter__(self):
        if self.ns is None:
            return self
        if _grading():
            self._conn = _connect()
            self._conn.send({"op": "isolate", "name": self.name})
            msg, _ = self._conn.recv()
            names = msg.get("names") or [] if msg.get("op") == "isolates" else []
            self._swap = Swap(self.ns, {str(h): _proxy(self._conn, str(h)) for h in names})
        else:
            from .checks import isolated

            self._swap = isolated(self.name, self.ns)
        self._swap.__enter__()
        return self

    def __exit__(self, etype, err, tb):
        if self._swap is not None:
            self._swap.__exit__(None, None, None)
        if self._conn is not None:
            try:
                self._conn.send({"op": "end"})
            except ChannelBroken:
                pass
            self._conn.close()
        if etype is None or issubclass(etype, CheckFailed):
            return False
        if not issubclass(etype, Exception):
            return False  # KeyboardInterrupt (the cell timed out) and the like
        found = diagnose(self.name, self.fn, self.ns)
        if issubclass(etype, NotImplementedError):
            raise CheckFailed(f"{self.name}: not written yet (it still raises "
                              "NotImplementedError).", outcome="not_written") from None
        msg = str(err) if issubclass(etype, AssertionError) else f"{etype.__name__}: {err}"
        if found is None:
            raise CheckFailed(msg) from None
        raise CheckFailed(f"{msg}\n\nDiagnosis: {found}", found.mistake,
                          found.outcome) from None
