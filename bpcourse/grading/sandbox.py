"""The sandbox a student's kernel runs in when grading (Linux, started as root).

``python -I .../sandbox.py -- <kernel command>`` (run as a script: standard library
only) is prepended to the kernel's command by ``preprocessors.SandboxKernelManager``, under
``unshare -m`` (a private mount namespace). Configured by ``$BPCOURSE_SANDBOX`` (JSON), it

1. hides the course (solutions, submissions, gradebook, feedback), the git history, the
   grader's home and temporary folders behind empty read-only tmpfs mounts, then shows
   again, read-only, only what the kernel needs: Python, the virtual environment, the
   ``bpcourse`` package and the MNIST cache;
2. gives the kernel a fresh, size-limited tmpfs as ``/tmp``, its scratch folder and home;
3. opens the record file (``record.py``) for appending and hands the kernel its fd;
4. sets resource limits: address space, CPU time, processes, file size, open files, no
   core dumps, and no new privileges (setuid programs stay unprivileged);
5. becomes the unprivileged grading user of its worker slot and execs the kernel.

Without root (or without ``unshare``) there is no sandbox: ``available()`` says so and the
grader reports it; resource limits still apply.
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

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
PR_SET_NO_NEW_PRIVS = 38
USER_PREFIX = "bpgrade"


_available = None


def available():
    """(True, "") if kernels can be sandboxed here, else (False, the reason)."""
    global _available
    if _available is None:
        _available = _probe()
    return _available


def _probe():
    if not sys.platform.startswith("linux"):
        return False, "not Linux"
    if os.geteuid() != 0:
        return False, "not running as root"
    if not shutil.which("unshare"):
        return False, "no unshare command"
    ok = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                        capture_output=True).returncode == 0
    return (True, "") if ok else (False, "mount namespaces not permitted")


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
            if os.path.isdir(folder):
                os.rmdir(folder)  # empty once the user's processes are gone: fresh counters
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


# -- the launcher (runs as root inside the new mount namespace) ------------------------
_libc = None


def _mount(src, target, fstype, flags, data):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    def enc(s):
        return (None if s is None else s.encode())
    if _libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def _launch(conf, cmd):
    uid, gid = conf["uid"], conf["gid"]
    # The connection file lives in the grader's runtime folder, hidden below.
    i = cmd.index("-f") + 1
    with open(cmd[i]) as f:
        connection = f.read()
    reveal = [p for p in dict.fromkeys(conf["reveal"]) if os.path.exists(p)]
    fds = {p: os.open(p, os.O_PATH) for p in reveal}
    rec_fd = os.open(conf["record"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.set_inheritable(rec_fd, True)

    _mount(None, "/", None, MS_REC | 1 << 18, None)  # MS_PRIVATE: nothing leaks out
    for path in sorted(dict.fromkeys(conf["hide"]), key=len):
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={conf['scratch_mb']}m,mode=1777")
    for path in reveal:
        if os.path.isdir(f"/proc/self/fd/{fds[path]}"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _mount(f"/proc/self/fd/{fds[path]}", path, None, MS_BIND | MS_REC, None)
        _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        os.close(fds[path])
    for path in conf["hide"]:  # the covering tmpfs themselves become read-only
        if os.path.isdir(path) and os.path.ismount(path):
            try:
                _mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
            except OSError:
                pass

    scratch = "/tmp/work"
    os.makedirs(scratch)
    os.chown(scratch, uid, gid)
    os.chmod(scratch, 0o700)
    conn = os.path.join(scratch, ".kernel.json")
    with open(conn, "w") as f:
        f.write(connection)
    os.chown(conn, uid, gid)
    cmd[i] = conn

    for folder in conf.get("cgroups", []):  # join the slot's cgroups (before exec)
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    lim = conf["limits"]
    for name, value in [("RLIMIT_AS", lim["memory"]), ("RLIMIT_CPU", lim["cpu"]),
                        ("RLIMIT_NPROC", lim["nproc"]), ("RLIMIT_FSIZE", lim["fsize"]),
                        ("RLIMIT_NOFILE", 256), ("RLIMIT_CORE", 0)]:
        if value:
            resource.setrlimit(getattr(resource, name), (value, value))
    env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
        "HOME": scratch, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
        "BPCOURSE_RECORD_FD": str(rec_fd), "BPCOURSE_DATA": conf["data"] or "",
        "BPCOURSE_OFFLINE": "1", "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per arena
        "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    ctypes.CDLL(None).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.chdir(scratch)
    os.execve(cmd[0], cmd, env)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[argv.index("--") + 1:]
    conf = json.loads(os.environ["BPCOURSE_SANDBOX"])
    try:
        _launch(conf, cmd)
    except Exception as err:  # never start the kernel unsandboxed
        print(f"bpcourse sandbox: {err}", file=sys.stderr, flush=True)
        os._exit(70)


if __name__ == "__main__":
    main()
