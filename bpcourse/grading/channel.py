"""The grading channel, the grader's side: every check runs here, on inputs drawn at grading time.

While a notebook is graded, ``Channel`` listens on a Unix socket in the folder the sandbox
shares with the kernel. When a test cell's hidden part (``kernel.record``) connects, the
grader runs that cell's check in its own process with a *remote* student function: each
call sends the arguments to the kernel and waits for the result and the arguments' state
afterwards (``kernel.call``). A helper the check isolates is answered here, with the
reference, only while the check runs. The check's inputs come from seeds derived from the
course's secret key (``checks.keyed``), so they exist nowhere before the check sends them.
The verdict (``Verdict``: plain fields) is kept for ``GraderVerdict`` and sent back to the
kernel, which shows the teaching message of a failed visible test.

A session is accepted only for the test cell that is running (``Channel.cell``), once per
cell and purpose; anything else on the channel (a connection from an answer cell, junk, a
message past the cap) is refused and noted as tampering for the instructor's summary.
"""

import contextlib
import hashlib
import io
import os
import secrets
import socket
import threading
from dataclasses import dataclass

from . import checks, reference
from .contract import BEHAVIOURS
from .kernel import (
    MAX_MESSAGE,
    ChannelBroken,
    Connection,
    call,
    decode,
    encode,
    result,
    settle,
    writable_path,
)

KEY_BYTES = 32
KEY_FILE = "grading.key"  # in the course's grading folder, git-ignored with it


def course_key(path):
    """The course's secret key (hex) in ``path``, created (mode 0600) on first use."""
    try:
        with open(path) as f:
            key = f.read().strip()
        if len(key) >= 2 * KEY_BYTES:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_hex(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def key_id(key):
    """A short public name of a key (which key graded), never the key."""
    return hashlib.sha256(("bpcourse key id:" + key).encode()).hexdigest()[:8]


@dataclass
class Verdict:
    """The grader's verdict on one check: plain fields, no text to parse."""

    passed: bool
    message: str = ""
    mistake: str | None = None  # a key of MISTAKES, when the check named one
    outcome: str = "passed"  # passed, failed, not_written, or broken (no result came back)
    printed: str = ""  # what the check said (train's accuracy line)


class _Remote:
    """The student's function as the check sees it: called in the kernel."""

    def __init__(self, session):
        self.session, self.elapsed = session, None
        self.__name__ = session.behaviour.function

    def __call__(self, *args):
        bufs, wire = [], []
        for a in args:
            if type(a) is str and _is_scratch_file(a):  # a file the function is to write
                wire.append({"path": os.path.basename(a)})
            elif callable(a) and getattr(reference, getattr(a, "__name__", ""), None) is a \
                    and a.__name__ in self.session.behaviour.isolates:
                wire.append({"ref": a.__name__})  # a helper handed over: the kernel's proxy
            elif callable(a) and str(getattr(a, "__module__", "")).startswith("bpcourse."):
                wire.append({"fn": [a.__module__, a.__name__]})  # a tool: the kernel's own
            else:
                wire.append(encode(a, bufs))
        self.session.conn.send({"op": "call", "args": wire}, bufs)
        while True:
            msg, rbufs = self.session.conn.recv()
            if msg.get("op") == "ref":
                self.session.serve_ref(msg, rbufs)
            elif msg.get("op") == "result":
                break
            else:
                raise ChannelBroken(f"an unexpected message ({str(msg.get('op'))[:20]!r})")
        settle(args, msg, rbufs)
        t = msg.get("seconds")
        self.elapsed = float(t) if isinstance(t, (int, float)) else None
        return result(msg, rbufs)


def _is_scratch_file(path):
    """A path in this process's temporary folder whose folder exists: a file to write."""
    return writable_path(path) and os.path.isdir(os.path.dirname(os.path.realpath(path)))


class _Session:
    def __init__(self, channel, conn, behaviour):
        self.channel, self.conn, self.behaviour = channel, conn, behaviour

    def serve_ref(self, msg, bufs):
        """Answer a call of an isolated helper with the reference (this check's only)."""
        name = str(msg.get("name", ""))[:60]
        if name not in self.behaviour.isolates:
            self.channel.note(f"tampering detected: a call of {name!r} on the grading channel "
                              f"during {self.behaviour.name}, which does not isolate it")
            raise ChannelBroken("a helper this check does not isolate")
        args = [decode(a, bufs) for a in msg.get("args") or []]
        reply, rbufs = call(getattr(reference, name), args)
        self.conn.send({"op": "ref_result", **reply}, rbufs)

    def isolate(self):
        """A visible-test block: answer its helpers' calls until it ends."""
        self.conn.send({"op": "isolates", "names": list(self.behaviour.isolates)})
        while True:
            msg, bufs = self.conn.recv()
            if msg.get("op") == "ref":
                self.serve_ref(msg, bufs)
            else:
                return

    def check(self):
        """Run the behaviour's check on the remote function: a ``Verdict``."""
        name = self.behaviour.name
        self.conn.send({"op": "isolates", "names": list(self.behaviour.isolates)})
        said = io.StringIO()
        try:
            with checks.keyed(self.channel.key), checks.saying(said):
                checks.run(name, _Remote(self))
        except checks.CheckFailed as err:
            return Verdict(False, str(err), err.mistake, err.outcome, said.getvalue())
        except ChannelBroken as err:
            return Verdict(False, f"the check did not get its results back ({err})",
                           outcome="broken", printed=said.getvalue())
        except Exception as err:  # a reply the check could not use
            return Verdict(False, f"the results could not be checked ({type(err).__name__})",
                           outcome="broken", printed=said.getvalue())
        return Verdict(True, printed=said.getvalue())


class Channel:
    """The grader's end of the channel for one notebook; a thread serves it."""

    def __init__(self, path, key=None, limit=MAX_MESSAGE):
        self.path, self.key, self.limit = path, key or None, limit
        self.cell = None  # grade id of the test cell running now (set by the executor)
        self.verdicts = {}  # (behaviour name, "record" | "explain") -> Verdict
        self.events = []
        self._lock = threading.Lock()
        self._conn = None
        self._closed = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # the kernel runs as the slot's unprivileged user
        self.sock.listen(4)
        self._thread = threading.Thread(target=self._serve, name="bpcourse-channel",
                                        daemon=True)
        self._thread.start()

    def note(self, event):
        with self._lock:
            if event not in self.events:
                self.events.append(event)

    def _serve(self):
        while not self._closed:
            try:
                sock, _ = self.sock.accept()
            except OSError:
                return
            conn = Connection(sock, self.limit)
            with self._lock:
                self._conn = conn
            try:
                self._session(conn)
            except ChannelBroken as err:
                if "closed" not in str(err):
                    self.note(f"tampering detected: junk on the grading channel ({err})")
            except Exception as err:  # never let the kernel's bytes stop the grader
                self.note(f"tampering detected: the grading channel failed "
                          f"({type(err).__name__})")
            finally:
                conn.close()
                with self._lock:
                    self._conn = None

    def _session(self, conn):
        msg, _ = conn.recv()
        op, name, via = msg.get("op"), str(msg.get("name", ""))[:60], msg.get("via", "record")
        b = BEHAVIOURS.get(name)
        cell = self.cell
        why = None
        if op not in ("check", "isolate") or via not in ("record", "explain"):
            why = "not a check"
        elif b is None or cell is None or b.cell != cell:
            why = f"{name!r} is not the check of the cell that is running"
        elif op == "check" and (name, via) in self.verdicts:
            why = f"{name} was already checked"
        if why:
            self.note(f"tampering detected: a session on the grading channel refused ({why})")
            conn.send({"op": "refused", "why": why})
            return
        session = _Session(self, conn, b)
        if op == "isolate":
            session.isolate()
            return
        verdict = session.check()
        self.verdicts[(name, via)] = verdict
        with contextlib.suppress(ChannelBroken):
            conn.send({"op": "done", "passed": verdict.passed, "message": verdict.message,
                       "mistake": verdict.mistake, "outcome": verdict.outcome})

    def close(self):
        """Stop serving: a session still open (a kernel that hung) is cut off."""
        self._closed = True
        with self._lock:
            conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
