"""Autograde step: the notebook runs in the sandbox, under caps on time, memory and output.

``SandboxedExecute`` is nbgrader's Execute with the kernel started through the sandbox
(``sandbox.py``), a cap on each cell's output, the cells already run kept when the kernel
dies (the rest marked not run), and a kernel that no longer answers stopped. What happened
to each cell that did not simply run (timeout, crashed, not_run) goes to the verdict as a
field in ``resources["bpcourse"]["cells"]``.
"""

import json
import os
import shutil
import signal
import sys
import tempfile
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async
from nbgrader.preprocessors.execute import Execute
from traitlets import Integer, Unicode

from .. import sandbox, view
from ..channel import Channel, course_key
from ..contract import notebook_seconds
from ..kernel import CHANNEL
from .cells import error_output, is_test, meta

try:
    from jupyter_client.manager import AsyncKernelManager
except ImportError:  # pragma: no cover
    from jupyter_client import AsyncKernelManager


class SandboxKernelManager(AsyncKernelManager):
    """Starts the kernel through the sandbox (bubblewrap), over Unix sockets, its output to
    files, not ours.

    The kernel listens on Jupyter's ``ipc`` transport, sockets ``<channel_dir>/k-1`` ...
    ``k-5`` next to its connection file: TCP cannot cross the sandbox's network namespace,
    and the same code path serves an unsandboxed kernel. It is interrupted by a message on
    its control channel (bubblewrap's ``--new-session`` puts it out of reach of the process
    group signal), which ipykernel turns into SIGINT to its own process group.
    """

    sandbox_conf = None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        conf = self.sandbox_conf or {}
        if conf.get("enabled"):
            return sandbox.command(conf, cmd)
        lim = conf.get("limits", {})
        if shutil.which("prlimit") and lim:
            return ["prlimit", f"--as={lim['memory']}", f"--cpu={lim['cpu']}",
                    f"--fsize={lim['fsize']}", "--core=0", *cmd]
        return cmd

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        conf = self.sandbox_conf or {}
        env = dict(kw.get("env") or os.environ)
        if conf.get("enabled"):
            # The launcher execs bwrap with the kernel's own environment, not this one.
            conf["kernel_env"] = sandbox.kernel_env(conf)  # conf["env"] is final by now
            env = {"PATH": env.get("PATH", os.defpath),
                   "BPCOURSE_SANDBOX": json.dumps(conf)}
            os.chown(self.connection_file, conf["uid"], conf["gid"])  # the kernel reads it
        elif conf:
            env.update(conf.get("env") or {})
        kw["env"] = env
        kw["stdout"] = open(os.devnull, "wb")  # noqa: SIM115 (the kernel keeps it)
        if conf.get("stderr"):
            kw["stderr"] = open(conf["stderr"], "ab")  # noqa: SIM115
        return await super()._async_launch_kernel(kernel_cmd, **kw)


def _ipc():
    try:
        import zmq

        return sys.platform != "win32" and zmq.has("ipc")
    except ImportError:  # pragma: no cover
        return False


_IPC = _ipc()


def _signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class SandboxedExecute(Execute):
    """nbgrader's Execute, in the sandbox, surviving a dead or hung kernel."""

    memory_mb = Integer(2048, help="address space of a student's kernel (MB)").tag(config=True)
    cpu_seconds = Integer(900, help="CPU time of a student's kernel (s)").tag(config=True)
    nproc = Integer(64, help="processes and threads of the grading user").tag(config=True)
    fsize_mb = Integer(64, help="largest file a student's kernel may write (MB)").tag(
        config=True)
    scratch_mb = Integer(256, help="size of the kernel's /tmp scratch tmpfs (MB)").tag(
        config=True)
    max_output = Integer(100_000, help="characters of output kept per cell").tag(config=True)
    notebook_seconds = Integer(0, help="seconds for the whole notebook, cells after it not "
                               "run (0: three cells' time limit, at least 300)").tag(config=True)
    max_message_mb = Integer(96, help="largest message from the kernel on the grading "
                             "channel (MB)").tag(config=True)
    grading_key = Unicode("", help="the course's secret key (hex): the hidden checks' inputs "
                          "are drawn from it (make grade passes it; else key_file)").tag(
        config=True)
    key_file = Unicode("", help="the file holding the course's secret key, made on first "
                       "use").tag(config=True)

    def _conf(self, workdir):
        """What the kernel manager and the sandbox need for one notebook (plain data).

        ``channel_dir``: the kernel's Unix sockets and connection file, a fresh folder of
        the notebook's ``workdir`` (bound read-write at the same path in the sandbox);
        ``env``: extra environment variables for the kernel, sandboxed or not; ``binds``:
        extra read-only ``[source, destination]`` binds, after the default ones.
        """
        enabled, why = sandbox.available()
        channel_dir = os.path.join(workdir, "k")
        os.mkdir(channel_dir, 0o700)
        if len(channel_dir) > 90:  # a Unix socket's path has 107 bytes at most
            raise RuntimeError(f"the grading folder's path is too long for sockets: {workdir}")
        conf = {"enabled": enabled, "why": why,
                "stderr": os.path.join(workdir, "kernel.err"), "uid": None, "gid": None,
                "limits": {"memory": self.memory_mb << 20, "cpu": self.cpu_seconds,
                           "nproc": self.nproc, "fsize": self.fsize_mb << 20},
                "scratch_mb": self.scratch_mb, "channel_dir": channel_dir,
                "env": {}, "binds": []}
        if not enabled:
            return conf
        from ...mnist import data_home

        slot = sandbox.acquire_slot(int(os.environ.get("BPCOURSE_SANDBOX_SLOT", "0")))
        pw = sandbox.user(slot)
        conf["uid"], conf["gid"] = pw.pw_uid, pw.pw_gid
        os.chown(channel_dir, pw.pw_uid, pw.pw_gid)  # the kernel makes its sockets there
        sandbox.kill_user(pw.pw_uid)  # nothing left over from before, so the cgroup is empty
        conf["cgroups"] = sandbox.cgroups(slot, self.memory_mb << 20, self.nproc)
        conf["data"] = str(data_home())
        conf["default_binds"] = sandbox.default_binds(conf["data"])
        return conf

    def preprocess(self, nb, resources, km=None):
        info = resources.setdefault("bpcourse", {})
        self._events = info.setdefault("events", [])
        workdir = tempfile.mkdtemp(prefix="bpcourse-grading-")
        info["workdir"] = workdir
        self._sandbox = conf = self._conf(workdir)
        # The grader's end of the grading channel: every test cell's check runs here.
        key = self.grading_key or (course_key(self.key_file) if self.key_file else "")
        self._channel = Channel(os.path.join(conf["channel_dir"], "grader.sock"), key,
                                limit=self.max_message_mb << 20)
        conf["env"][CHANNEL] = self._channel.path
        if conf["enabled"]:  # the kernel sees the assignment's tools, not the package
            assignment = resources.get("nbgrader", {}).get("assignment")
            # Built once per content in the sandbox's root-only folder (not a workdir, which
            # goes after each notebook; not /tmp, where another user could plant one).
            views = os.path.join(sandbox.LOCKS, "views")
            conf["binds"].append([str(view.build(assignment, views)), str(view.PACKAGE)])
        if not conf["enabled"]:
            self._events.append(f"warning: no sandbox ({conf['why']}): the student's code ran "
                                "as the grader, with resource limits only")
        self._stop, self._timeouts, self._flooded = None, 0, set()
        self._consecutive = False
        self._sizes = {}
        # What happened to each cell that did not simply run (timeout, crashed, not_run),
        # by index, for the verdict: a field, not an error message to recognise.
        self._states = info.setdefault("cells", {})
        self._deadline = time.monotonic() + notebook_seconds(self.timeout or 120,
                                                             self.notebook_seconds)
        try:
            for attempt in range(3):  # a kernel that fails to start is started again
                self._ran = False
                try:
                    super().preprocess(nb, resources, km)
                    break
                except Exception:
                    if self._ran or attempt == 2:
                        raise
                    self.log.warning("the kernel did not start: trying again")
                    if conf.get("uid"):
                        sandbox.kill_user(conf["uid"])
                    time.sleep(1 + attempt)
        except Exception as err:  # the kernel did not start, or died between cells
            reason = self._death_reason() or f"{type(err).__name__}"
            if not self._stop:
                self._events.append(f"crash: the kernel could not run the notebook ({reason})")
                self._stop = f"the kernel could not run ({reason})"
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and cell.get("execution_count") is None \
                        and not cell.get("outputs"):
                    cell.outputs = [error_output("NotRun", f"not run: {self._stop}")]
                    self._states.setdefault(i, "not_run")
        finally:
            if conf.get("uid"):
                sandbox.kill_user(conf["uid"])
            self._channel.close()  # a check still waiting on a dead kernel ends here
            info["verdicts"] = self._channel.verdicts
            self._events.extend(self._channel.events)
            kills = sandbox.oom_kills(conf.get("cgroups", []))
            if kills:
                self._events.append(f"memory limit: the kernel's processes went past "
                                    f"{self.memory_mb} MB together; {kills} killed")
        return nb, resources

    async def _async_handle_timeout(self, timeout, cell=None):
        # nbclient interrupts a cell at its time limit and hands back nbgrader's
        # error_on_timeout reply instead of raising: note the cell here, where it is known.
        self._states[self._index] = "timeout"
        return await super()._async_handle_timeout(timeout, cell)

    async def _async_check_alive(self):
        # nbclient asks the heartbeat, which misses its 1 s deadline on a loaded machine
        # and declares a busy kernel dead; ask whether the process still runs instead (a
        # hung kernel is the time limit's business).
        if not await ensure_async(self.km.is_alive()):
            self.log.error("Kernel died while waiting for execute reply.")
            raise DeadKernelError("Kernel died")

    def create_kernel_manager(self):
        self.kernel_manager_class = SandboxKernelManager
        km = super().create_kernel_manager()
        km.sandbox_conf = conf = self._sandbox
        if _IPC:  # Unix sockets: the one way in and out of the sandbox's network namespace
            km.transport = "ipc"
            km.ip = os.path.join(conf["channel_dir"], "k")
            km.connection_file = os.path.join(conf["channel_dir"], "kernel.json")
            km.kernel_spec.interrupt_mode = "message"
        return km

    def _death_reason(self):
        try:
            proc = self.km.provisioner.process
            rc = proc.wait(timeout=2)
        except Exception:
            return None
        if rc is None:
            return None
        if rc > 128 and (self._sandbox or {}).get("enabled"):
            rc = 128 - rc  # bwrap exits 128 + n when the kernel died of signal n
        if rc < 0:
            name = _signal_name(-rc)
            what = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "file size limit",
                    "SIGSEGV": "segmentation fault", "SIGKILL": "killed",
                    "SIGABRT": "aborted"}.get(name, name)
            return f"{what}, {name}"
        if rc == 70:
            return "the sandbox could not start"
        if rc == 1 and (self._sandbox or {}).get("enabled") and self._bwrap_failed():
            return "the sandbox could not start (bubblewrap failed)"
        return f"exit code {rc}"

    def _bwrap_failed(self):
        try:
            with open(self._sandbox["stderr"], errors="replace") as f:
                return any(ln.startswith("bwrap:") for ln in f.read()[-4000:].splitlines())
        except OSError:
            return False

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stop is None and time.monotonic() > self._deadline:
            self._stop = "the notebook ran past its time budget"
            self._events.append("timeout: the notebook ran past its time budget; "
                                f"cells from {index} on not run")
        if self._stop:
            cell.outputs = [error_output("NotRun", f"not run: {self._stop}")]
            self._states[index] = "not_run"
            return cell, resources
        self._ran, self._index = True, index
        # The grading channel accepts a check only from the test cell that is running.
        self._channel.cell = meta(cell).get("grade_id") if is_test(cell) else None
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = self._death_reason() or "it died"
            kind = "memory limit" if "killed" in reason else (
                "CPU time limit" if "CPU" in reason else "crash")
            self._events.append(f"{kind}: the kernel died in cell {index} ({reason}); the "
                                "cells before it count, the later ones were not run")
            self._stop = f"the kernel died in an earlier cell ({reason})"
            cell.outputs.append(error_output("DeadKernelError", f"the kernel died ({reason})"))
            self._states[index] = "crashed"
            return cell, resources
        except CellTimeoutError:
            cell.outputs.append(error_output("CellTimeoutError", f"cut off after {self.timeout} s"))
            self._states[index] = "timeout"
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if self._states.get(index) == "timeout":
            self._timeouts += 1
            self._events.append(f"timeout: cell {index} cut off after {self.timeout} s")
            if self._timeouts >= 2 and self._consecutive:
                self._stop = "the kernel stopped answering after two time-outs"
            self._consecutive = True
        else:
            self._consecutive = False
        if any(o.get("ename") == "MemoryError" for o in errors):
            self._events.append(f"memory limit: MemoryError in cell {index} "
                                f"(limit {self.memory_mb} MB)")
        if index in self._flooded:
            self._events.append(f"output flood: cell {index}'s output truncated to "
                                f"{self.max_output} characters")
        return cell, resources

    _consecutive = False

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in (content.get("data") or {}).values()) + len(
            str(content.get("traceback", "")))
        self._sizes[cell_index] = self._sizes.get(cell_index, 0) + size
        if self._sizes[cell_index] > self.max_output:
            self._flooded.add(cell_index)
            return None
        return super().output(outs, msg, display_id, cell_index)

