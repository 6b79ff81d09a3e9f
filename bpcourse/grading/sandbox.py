"""The sandbox a student's kernel runs in when grading: bubblewrap (Linux, started as root).

``command(conf, kernel_cmd)`` is the command line ``preprocessors.SandboxKernelManager``
starts instead of the kernel's. It runs this file as a script (standard library only) in
two stages around ``bwrap``:

outer (root, on the host)
    joins the slot's memory and pids cgroups and execs bwrap with the kernel's
    environment only (nothing of the grader's);
bwrap
    gives the kernel its own network (only ``lo``), PID, IPC, UTS and cgroup namespaces and
    a new session, kills it when the grader dies, and builds a *minimal* root: a fresh
    ``/proc`` and ``/dev``, a size-limited tmpfs as ``/tmp`` (scratch and home), and
    read-only binds of only the system folders, a few files of ``/etc``, Python, the
    virtual environment, the ``bpcourse`` package and the MNIST cache (then
    ``conf["binds"]``), plus the notebook's channel folder read-write (the kernel's Unix
    sockets and connection file, ``conf["channel_dir"]``). The course, its ``_grading/``,
    ``solutions/``, the git history, /home, the grader's home and temporary files do not
    exist inside. bwrap keeps only CAP_SETUID, CAP_SETGID and CAP_SETPCAP;
inner (root in the namespaces, those three capabilities)
    sets the resource limits (address space, CPU time, processes, file size, open files,
    no core dumps), closes every other fd, empties the capability bounding set, becomes
    the unprivileged grading user of the worker slot (setresuid: no capability is left),
    sets no_new_privs, checks all of that, and execs the kernel.

Without root, or without bubblewrap, there is no sandbox: ``available()`` says why and
the grader reports it; resource limits still apply (prlimit).
"""

import ctypes
import json
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import time

PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
USER_PREFIX = "bpgrade"
BWRAP = "BPCOURSE_BWRAP"  # environment variable: the bubblewrap executable (default: bwrap)
NAMESPACES = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try"]
# What the inner stage needs to become the slot's user; everything else is dropped.
CAPS = ["CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"]
ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
       "localtime", "timezone", "alternatives", "mime.types"]
SYSTEM = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
LAUNCHER = "/run/bpcourse/sandbox.py"  # where this file is seen inside the sandbox
SCRATCH = "/tmp/work"  # the kernel's home and working folder inside


_available = None


def available():
    """(True, "") if kernels can be sandboxed here, else (False, the reason)."""
    global _available
    if _available is None:
        _available = _probe()
    return _available


def bwrap():
    """The bubblewrap executable, or None."""
    return shutil.which(os.environ.get(BWRAP) or "bwrap")


def _probe():
    if not sys.platform.startswith("linux"):
        return False, "not Linux"
    if os.geteuid() != 0:
        return False, "not running as root"
    exe = bwrap()
    if not exe:
        return False, "no bubblewrap (apt install bubblewrap)"
    try:
        trial = subprocess.run([exe, *NAMESPACES, "--die-with-parent", "--ro-bind", "/", "/",
                                "--proc", "/proc", "--dev", "/dev", "--", "true"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return False, f"bubblewrap does not run ({err})"
    if trial.returncode != 0:
        said = (trial.stderr.strip().splitlines() or [f"exit code {trial.returncode}"])[-1]
        return False, f"bubblewrap cannot make its namespaces here ({said})"
    return True, ""


# -- the command line ----------------------------------------------------------------------
def default_binds(data=None):
    """The read-only binds every kernel needs, [source, destination], parents first."""
    from importlib.util import find_spec

    paths = [os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))]
    spec = find_spec("bpcourse")
    if spec and spec.origin:
        paths.append(os.path.dirname(os.path.realpath(spec.origin)))
    if data:
        paths.append(os.path.realpath(data))
    paths = [p for p in dict.fromkeys(paths) if os.path.isdir(p)]
    # A folder inside another one is bound after it, or that one would cover it.
    paths.sort(key=lambda p: p.rstrip("/").count("/"))
    return [[p, p] for p in paths]


def bwrap_args(conf):
    """bubblewrap's options for one kernel (conf as ``SandboxedExecute._conf`` builds it)."""
    args = [*NAMESPACES, "--die-with-parent", "--new-session",
            "--cap-drop", "ALL"] + [a for cap in CAPS for a in ("--cap-add", cap)]
    for path in SYSTEM:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev",
             # After the tmpfs, or it would cover what is bound below /tmp.
             "--perms", "1777", "--size", str(int(conf["scratch_mb"]) << 20), "--tmpfs", "/tmp"]
    mounted = ["/usr", "/proc", "/dev"] + [f"/etc/{n}" for n in ETC]
    made = set()

    def bind(how, src, dst):
        # bwrap makes a missing parent folder 0700 (root's): the kernel could not enter it.
        parents, up = [], os.path.dirname(dst)
        while up not in ("/", "") and up not in made and not any(
                up == m or up.startswith(m + "/") for m in mounted):
            parents.append(up)
            up = os.path.dirname(up)
        for folder in reversed(parents):
            args.extend(["--perms", "0755", "--dir", folder])
            made.add(folder)
        args.extend([how, src, dst])
        mounted.append(dst)

    for src, dst in list(conf["default_binds"]) + list(conf.get("binds") or []):
        bind("--ro-bind", src, dst)
    bind("--bind", conf["channel_dir"], conf["channel_dir"])
    bind("--ro-bind", os.path.realpath(__file__), LAUNCHER)
    return args + ["--hostname", "grading", "--chdir", "/"]


def command(conf, kernel_cmd):
    """The whole command line: outer stage, bwrap, inner stage, the kernel."""
    inner = json.dumps({"uid": conf["uid"], "gid": conf["gid"], "limits": conf["limits"]})
    return [sys.executable, "-I", os.path.realpath(__file__), "outer", "--",
            bwrap() or "bwrap", *bwrap_args(conf), "--",
            sys.executable, "-I", LAUNCHER, "inner", inner, "--", *kernel_cmd]


def kernel_env(conf):
    """The sandboxed kernel's whole environment."""
    env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
        "HOME": SCRATCH, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
        "BPCOURSE_DATA": conf.get("data") or "",
        "BPCOURSE_OFFLINE": "1", "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per arena
        "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    env.update({str(k): str(v) for k, v in (conf.get("env") or {}).items()})
    return env


# -- slots, users, cgroups ---------------------------------------------------------------
LOCKS = "/var/lib/bpcourse-grading"
_slot = None


def acquire_slot(hint=0):
    """A worker slot no other grading process on this machine holds, locked for life.

    Each slot has its own grading user, and everything that user runs is killed after
    each notebook: two grading runs (two courses, two test sessions) must never share a
    slot. The lock (flock on LOCKS/slot-N.lock) is released when this process ends.
    """
    global _slot
    if _slot is not None:
        return _slot[0]
    import fcntl

    os.makedirs(LOCKS, mode=0o700, exist_ok=True)
    for n in list(range(int(hint), int(hint) + 256)) + list(range(int(hint))):
        fd = os.open(os.path.join(LOCKS, f"slot-{n}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _slot = (n, fd)
        return n
    raise RuntimeError("no free grading slot")


def user(slot):
    """The grading user of worker slot ``slot``, created (no home, no shell) if missing."""
    name = f"{USER_PREFIX}{int(slot)}"
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", name],
                       check=False, capture_output=True)
        return pwd.getpwnam(name)


def cgroups(slot, memory, nproc):
    """Fresh cgroups (v1 memory and pids) for slot's kernels: [folder], maybe empty.

    The memory cgroup caps all the kernel's processes together (a fork that allocates in
    every child), counting its tmpfs scratch; the pids cgroup caps their number. Where
    cgroups cannot be made, only the per-process limits apply.
    """
    made = []
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return made
    for controller, limits in [("memory", {"memory.limit_in_bytes": memory,
                                           "memory.memsw.limit_in_bytes": memory}),
                               ("pids", {"pids.max": nproc})]:
        path = next((ln.split(":", 2)[2] for ln in lines
                     if controller in ln.split(":", 2)[1].split(",")), None)
        if path is None:
            continue
        folder = os.path.join(f"/sys/fs/cgroup/{controller}{path}", f"{USER_PREFIX}{slot}")
        try:
            for _ in range(40):  # empty once the last sandbox's bwrap is gone: fresh counters
                try:
                    if os.path.isdir(folder):
                        os.rmdir(folder)
                    break
                except OSError:
                    time.sleep(0.05)
            os.mkdir(folder)
            for name, value in limits.items():
                if os.path.exists(os.path.join(folder, name)):
                    with open(os.path.join(folder, name), "w") as f:
                        f.write(str(value))
            made.append(folder)
        except OSError:
            continue
    return made


def oom_kills(folders):
    """How many processes the memory cgroup's OOM killer killed."""
    for folder in folders:
        try:
            with open(os.path.join(folder, "memory.oom_control")) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
    return 0


def kill_user(uid):
    """SIGKILL every process of the grading user uid (a fork bomb included)."""
    if uid in (None, 0):
        return
    for _ in range(100):  # up to 5 s: a process being OOM-killed takes a moment to go
        pid = os.fork()
        if pid == 0:  # the child becomes the user and kills all that user's processes
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
        if not _pids_of(uid):
            return
        time.sleep(0.05)


def _pids_of(uid):
    """Live processes of uid (zombies are dead already: their parent reaps them)."""
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat(f"/proc/{p}").st_uid == uid:
                    with open(f"/proc/{p}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                            pids.append(int(p))
            except (OSError, IndexError):
                pass
    return pids


# -- the launcher's two stages -------------------------------------------------------------
def _outer(conf, cmd):
    """On the host, as root: cgroups, then bwrap with the kernel's env."""
    for folder in conf.get("cgroups", []):  # bwrap and all it starts are counted
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    os.execve(cmd[0], cmd, dict(conf["kernel_env"]))


def _caps():
    """{CapInh: int, CapPrm: ..., CapEff, CapBnd, CapAmb} of this process."""
    with open("/proc/self/status") as f:
        return {k: int(v, 16) for k, v in (ln.split(":\t") for ln in f.read().splitlines()
                                           if ln.startswith("Cap"))}


def _inner(conf, cmd):
    """Inside the namespaces (root, CAP_SETUID/SETGID/SETPCAP): limits, user, exec."""
    uid, gid, lim = int(conf["uid"]), int(conf["gid"]), conf["limits"]
    libc = ctypes.CDLL(None, use_errno=True)
    for name, value in [("RLIMIT_AS", lim["memory"]), ("RLIMIT_CPU", lim["cpu"]),
                        ("RLIMIT_NPROC", lim["nproc"]), ("RLIMIT_FSIZE", lim["fsize"]),
                        ("RLIMIT_NOFILE", 256), ("RLIMIT_CORE", 0)]:
        if value:
            resource.setrlimit(getattr(resource, name), (value, value))
    keep = {0, 1, 2}
    for fd in os.listdir("/proc/self/fd"):  # nothing of bwrap's or the grader's leaks in
        if int(fd) not in keep:
            try:
                os.close(int(fd))
            except OSError:
                pass
    for cap in range(64):  # the bounding set empties: no capability can come back
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            raise OSError(ctypes.get_errno(), f"cannot drop capability {cap}")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # the permitted and effective sets empty here

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (x2): all empty
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    left = {k: v for k, v in _caps().items() if v}
    if left or os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise RuntimeError(f"still privileged: {left} uid {os.getresuid()}")
    os.makedirs(SCRATCH, mode=0o700, exist_ok=True)
    os.chdir(SCRATCH)
    os.execve(cmd[0], cmd, os.environ)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    stage = argv[0]
    cmd = argv[argv.index("--") + 1:]
    try:
        if stage == "outer":
            _outer(json.loads(os.environ["BPCOURSE_SANDBOX"]), cmd)
        else:
            _inner(json.loads(argv[1]), cmd)
    except Exception as err:  # never start the kernel unsandboxed
        print(f"bpcourse sandbox ({stage}): {err}", file=sys.stderr, flush=True)
        os._exit(70)


if __name__ == "__main__":
    main()
