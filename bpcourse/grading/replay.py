"""Record a check's calls in the student's kernel; replay them in the grader's process.

The hidden part of a test cell is ``record("sigmoid", sigmoid)``. When grading, this runs
the check in the student's kernel with a *recording* wrapper around the student's
function: every call's result and the state of its arguments afterwards are written, as
plain data (numbers, arrays as raw bytes, lists, dicts), to a file descriptor the sandbox
opened (``$BPCOURSE_RECORD_FD``). The grader then runs the same check in its own process
with a *replaying* function that hands the recorded results back. The comparisons that
decide the score therefore run in a process the student's code never touched: patching
``np.allclose``, the builtins, the checks or ``bpcourse`` in the notebook changes nothing,
and an object whose ``==`` always succeeds arrives as opaque data and fails.

Outside grading (no ``$BPCOURSE_RECORD_FD``) ``record`` simply runs the check, so an
instructor can run the solution notebooks as they are.

``explain(name, fn)`` wraps a cell's visible tests: when one fails, the full check runs
to diagnose it, and when grading that diagnosis is recorded too (``via: "explain"``), so
the grader learns the mistake from its own replay, never from the kernel's message.
"""

import base64
import builtins
import contextlib
import copy
import hashlib
import io
import json
import os
import time
import types
from dataclasses import dataclass

import numpy as np

from .checks import CheckFailed, isolated, run
from .contract import BEHAVIOURS

MAX_ITEMS = 100_000  # list/dict entries and array elements in one record, in all
MAX_FILE = 1 << 20  # bytes of a file written by the student's function (save_model)
MAX_STR = 2000


class Opaque:
    """What an unsupported object returned by a student's function becomes."""

    def __repr__(self):
        return f"<{type(self).__name__}>"


class ReplayMismatch(BaseException):  # noqa: N818 (not an Exception: the checks must not catch it)
    """The check asked for a call the recording does not hold (the runs diverged)."""


# -- plain data ------------------------------------------------------------------------
def encode(x, budget=None, depth=0):
    """x as JSON-able plain data; arrays as raw bytes, anything else opaque."""
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
        budget[0] -= a.size
        if budget[0] < 0:
            return {"opaque": "too large"}
        a = np.ascontiguousarray(a)
        return {"nd": a.dtype.str, "shape": list(a.shape),
                "b64": base64.b64encode(a.tobytes()).decode()}
    if type(x) in (list, tuple):
        return {type(x).__name__: [encode(v, budget, depth + 1) for v in x]}
    if type(x) is dict:
        if not all(type(k) is str for k in x):
            return {"opaque": "dict"}
        return {"dict": [[k[:MAX_STR], encode(v, budget, depth + 1)] for k, v in x.items()]}
    return {"opaque": type(x).__name__}


def decode(d, depth=0):
    """Plain Python and NumPy objects from ``encode``'s output, whatever its origin."""
    if depth > 12 or not isinstance(d, dict) or len(d) < 1:
        return _opaque("malformed")
    if "v" in d:
        v = d["v"]
        return v if v is None or type(v) in (bool, int, float) else _opaque("malformed")
    if "s" in d:
        return str(d["s"])[:MAX_STR]
    if "nd" in d:
        dt = np.dtype(str(d["nd"]))
        shape = tuple(int(s) for s in d["shape"])
        if dt.kind not in "biufc" or dt.itemsize > 16 or any(s < 0 for s in shape):
            return _opaque("malformed")
        raw = base64.b64decode(d["b64"])
        if len(raw) != dt.itemsize * int(np.prod(shape)):
            return _opaque("malformed")
        return np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    if "list" in d or "tuple" in d:
        items = [decode(v, depth + 1) for v in (d.get("list") or d.get("tuple") or [])]
        return items if "list" in d else tuple(items)
    if "dict" in d:
        return {str(k): decode(v, depth + 1) for k, v in d["dict"]}
    return _opaque(str(d.get("opaque", "object")))


def _opaque(name):
    name = "".join(c for c in name if c.isalnum() or c == "_")[:40] or "object"
    return type(name, (Opaque,), {})()


def _digest(enc):
    return hashlib.sha256(json.dumps(enc, sort_keys=True).encode()).hexdigest()


def _state(x):
    """What the checks look at in an argument after the call (arrays, dicts, a model...)."""
    if type(x) is str:  # a path the function writes (save_model)
        try:
            if os.path.isfile(x) and os.path.getsize(x) <= MAX_FILE:
                with open(x, "rb") as f:
                    return {"file": base64.b64encode(f.read()).decode()}
        except OSError:
            pass
        return {"nofile": True}
    params = getattr(x, "params", None)
    if type(params) is dict and hasattr(x, "sizes"):  # a bpcourse MLP
        return {"mlp": encode(params)}
    return encode(x)


def _exception(err):
    return {"type": type(err).__name__[:60], "msg": str(err)[:MAX_STR],
            "nie": isinstance(err, NotImplementedError)}


def _raise(e):
    if e.get("nie"):
        raise NotImplementedError(str(e.get("msg", "")))
    name = "".join(c for c in str(e.get("type", "Error")) if c.isalnum() or c == "_")[:60]
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = type(name or "Error", (Exception,), {})
    raise cls(str(e.get("msg", "")))


def _result(entry):
    """The return value (or exception) a recorded call hands to the check."""
    if "exc" in entry:
        _raise(entry["exc"])
    if "iter" in entry:
        items = [decode(v) for v in entry["iter"]]
        exc = entry.get("iter_exc")

        def gen():
            yield from items
            if exc:
                _raise(exc)

        return gen()
    return decode(entry.get("out", {}))


# -- the student's side ----------------------------------------------------------------
class _Recorder:
    def __init__(self, fn):
        self.fn, self.calls, self.elapsed = fn, [], None
        self.__name__ = getattr(fn, "__name__", "fn")

    def __call__(self, *args):
        before = [_digest(_state(a)) for a in args]
        # Which objects a dict argument holds: an update must change its arrays, not
        # put new ones in their place (sgd_step), and the replay must show which it did.
        held = [{k: id(v) for k, v in a.items()} if type(a) is dict else None for a in args]
        entry = {}
        t0 = time.perf_counter()
        try:
            out = self.fn(*args)
            if isinstance(out, (types.GeneratorType, map, filter, zip)) or (
                    hasattr(out, "__next__") and not isinstance(out, (np.ndarray, list, dict))):
                items, exc = [], None
                try:
                    for item in out:
                        items.append(encode(item))
                        if len(items) > 10_000:
                            break
                except Exception as err:
                    exc = err
                entry = {"iter": items, "iter_exc": _exception(exc) if exc else None}
            else:
                entry = {"out": encode(out)}
        except Exception as err:
            entry = {"exc": _exception(err)}
        entry["seconds"] = self.elapsed = time.perf_counter() - t0
        states = [_state(a) for a in args]
        entry["args"] = [None if _digest(s) == b else s
                         for s, b in zip(states, before, strict=True)]
        entry["rebound"] = [None if h is None else
                            [str(k)[:MAX_STR] for k, v in a.items() if h.get(k) != id(v)]
                            for a, h in zip(args, held, strict=True)]
        self.calls.append(entry)
        return _result(entry)  # what the grader's replay will return, exactly


def _write(line):
    fd, path = os.environ.get("BPCOURSE_RECORD_FD"), os.environ.get("BPCOURSE_RECORD_PATH")
    if fd is not None:
        os.write(int(fd), (line + "\n").encode())
    else:  # no sandbox: a file the grader named
        with open(path, "a") as f:
            f.write(line + "\n")


def _grading():
    return "BPCOURSE_RECORD_FD" in os.environ or "BPCOURSE_RECORD_PATH" in os.environ


def _recorded_run(name, fn, ns, via):
    """Run check ``name`` on a recording of fn, write the record; the CheckFailed or None."""
    rec = _Recorder(fn)
    status, failure = "passed", None
    try:
        run(name, rec, ns)
    except CheckFailed as err:
        status, failure = "failed", err
    except Exception as err:
        status = f"error {type(err).__name__}"
    _write(json.dumps({"check": name, "via": via, "calls": rec.calls, "status": status,
                       "module": str(getattr(fn, "__module__", ""))[:200]}))
    return failure


def record(name, fn, ns=None):
    """Run check ``name`` on fn; when grading, record its calls for the grader."""
    if not _grading():
        run(name, fn, ns)  # not grading: an ordinary check that raises on failure
        return
    _recorded_run(name, fn, ns, "record")


def diagnose(name, fn, ns=None):
    """The CheckFailed of the full check ``name`` on fn, or None when it passes."""
    if _grading():
        return _recorded_run(name, fn, ns, "explain")
    try:
        run(name, fn, ns)
    except CheckFailed as err:
        return err
    return None


class explain:  # noqa: N801 (used like a function: with explain(...):)
    """Run visible tests; if one fails, add the full check's diagnosis to its message.

    With ``ns`` (the notebook's globals()), the helpers the contract lists for the
    behaviour are the reference ones inside the block, as in the hidden check.
    """

    def __init__(self, name, fn, ns=None):
        self.name, self.fn, self.ns = name, fn, ns
        self._swap = isolated(name, ns)

    def __enter__(self):
        self._swap.__enter__()
        return self

    def __exit__(self, etype, err, tb):
        self._swap.__exit__(None, None, None)
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


# -- the grader's side -----------------------------------------------------------------
def _apply(arg, state, rebound=()):
    """Put the recorded after-call state into the grader's own argument.

    ``rebound``: keys of a dict argument whose value the student's function replaced by
    another object; the grader's dict gets new objects there too.
    """
    if isinstance(arg, dict):
        for k in [k for k in rebound if k in arg]:
            arg[k] = copy.copy(arg[k])
    if state is None:
        return
    if "file" in state or "nofile" in state:
        import tempfile

        tmp = os.path.realpath(tempfile.gettempdir())
        if type(arg) is str and os.path.realpath(arg).startswith(tmp + os.sep):
            if "file" in state:
                with open(arg, "wb") as f:
                    f.write(base64.b64decode(state["file"])[:MAX_FILE])
            elif os.path.isfile(arg):
                os.remove(arg)
        return
    if "mlp" in state:
        value, arg = decode(state["mlp"]), getattr(arg, "params", None)
    else:
        value = decode(state)
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


class _Replayer:
    def __init__(self, calls):
        self.calls, self.i, self.elapsed = list(calls), 0, None
        self.__name__ = "fn"

    def __call__(self, *args):
        if self.i >= len(self.calls):
            raise ReplayMismatch("the check made a call the student's run did not record")
        entry = self.calls[self.i]
        self.i += 1
        states = entry.get("args") or []
        rebound = entry.get("rebound") or [None] * len(args)
        if len(states) != len(args) or len(rebound) != len(args):
            raise ReplayMismatch("a recorded call has another number of arguments")
        for a, s, r in zip(args, states, rebound, strict=True):
            _apply(a, s, r if isinstance(r, list) else ())
        t = entry.get("seconds")
        self.elapsed = float(t) if isinstance(t, (int, float)) else None
        return _result(entry)


@dataclass
class Replayed:
    """The grader's verdict on one recording: plain fields, no text to parse."""

    passed: bool
    message: str = ""
    mistake: str | None = None  # a key of MISTAKES, when the check named one
    outcome: str = "passed"  # passed, failed, not_written, or mismatch (the runs diverged)
    printed: str = ""  # what the check printed (train's accuracy line)


def replay(name, rec):
    """Run check ``name`` on a recording (untrusted plain data): a ``Replayed``."""
    rep = _Replayer(rec.get("calls") or [])
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), np.errstate(all="ignore"):
            run(name, rep)
    except CheckFailed as err:
        return Replayed(False, str(err), err.mistake, err.outcome, out.getvalue())
    except ReplayMismatch as err:
        return Replayed(False, str(err), outcome="mismatch", printed=out.getvalue())
    except Exception as err:  # a malformed recording
        return Replayed(False, f"the recorded results could not be checked "
                               f"({type(err).__name__})", outcome="mismatch",
                        printed=out.getvalue())
    if rep.i != len(rep.calls):
        return Replayed(False, "the student's run recorded calls the check did not make",
                        outcome="mismatch", printed=out.getvalue())
    return Replayed(True, printed=out.getvalue())


RECORD_LIMIT = 64 << 20  # bytes the record channel may hold


def _lines(path, limit):
    """The record file's lines, or None when it is larger than ``limit``."""
    try:
        if os.path.getsize(path) > limit:
            return None
        with open(path, "rb") as f:
            return f.read().splitlines()
    except OSError:
        return []


def _parse(line):
    """A record from one line, or None for anything that is not one."""
    try:
        r = json.loads(line)
    except ValueError:  # includes invalid UTF-8
        return None
    ok = isinstance(r, dict) and r.get("check") in BEHAVIOURS \
        and r.get("via", "record") in ("record", "explain") and isinstance(r.get("calls"), list)
    return r if ok else None


def read_records(path, limit=RECORD_LIMIT, via="record"):
    """{check name: its record} from a record file (untrusted, size-limited).

    ``via`` picks the hidden tests' records ("record") or the visible tests' diagnoses
    ("explain"). A test cell records its check once: a check recorded twice (a forged
    line) maps to None.
    """
    recs = {}
    for r in filter(None, map(_parse, _lines(path, limit) or [])):
        if r.get("via", "record") == via:
            recs[r["check"]] = None if r["check"] in recs else r
    return recs


def channel_problems(path, limit=RECORD_LIMIT):
    """What is wrong with the record channel itself, as summary events (tampering)."""
    lines = _lines(path, limit)
    if lines is None:
        return [f"tampering detected: the record channel held more than {limit >> 20} MB "
                "(none of it was read)"]
    junk = sum(1 for line in lines if line.strip() and _parse(line) is None)
    return [f"tampering detected: {junk} line(s) on the record channel are not records "
            "(ignored)"] if junk else []
