"""Start a grading kernel as an unprivileged user that sees only what it needs.

The grader (running as root) starts this file as a script, with the standard library only,
inside ``unshare --mount --pid --fork --kill-child --mount-proc``: a private mount table and a
private process table, whose first process it is. It then

1. mounts a fresh, private ``tmpfs`` on ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (nothing one
   submission writes there is seen by another, or survives it);
2. hides every ``--hide`` folder under an empty read-only ``tmpfs`` (the repository with the
   instructor notebooks and hidden tests, the class folder, the report folder, the grader's
   own temporary folder), then puts back, read-only, each ``--keep`` folder that one of them
   covered (the library, the Python environment, the checkpoint cache);
3. copies the kernel's connection file into the private ``/tmp``; the kernel switches to the
   user and group ``--uid`` (no supplementary groups, ``no_new_privs``, a parent-death
   signal), with umask 077;
4. forks: the child executes the kernel command given after ``--`` (``{connection_file}`` in
   it is replaced by the private copy), in ``/tmp/work``, with ``HOME`` and ``TMPDIR`` in
   ``/tmp``; this process stays as the first process of the private process table and ends
   when the kernel ends (so a kernel that kills itself is seen dead at once).

When the grader kills the ``unshare`` process, this first process gets SIGKILL, and with it
every process the submission started.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 1, 2, 4, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           options: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(options)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="sandbox.py")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--connection", required=True, help="the kernel's connection file")
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--keep", action="append", default=[])
    parser.add_argument("--tmp-size", default="1g")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no kernel command after --")
    with open(args.connection, "rb") as f:
        connection = f.read()
    hide = sorted({os.path.realpath(p) for p in args.hide if os.path.isdir(p)}, key=len)
    hide = [h for h in hide if not any(_inside(h, o) and h != o for o in hide)  # outermost
            and not any(_inside(h, t) for t in PRIVATE_TMP)]  # those are private anyway
    covered = hide + [p for p in PRIVATE_TMP if os.path.isdir(p)]
    keep = [os.path.realpath(p) for p in args.keep if os.path.isdir(p)]
    keep = [k for k in keep if any(_inside(k, c) for c in covered)]
    # a handle on each folder to keep, taken before anything covers it
    handles = [os.open(k, os.O_PATH | os.O_DIRECTORY) for k in keep]

    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for folder in PRIVATE_TMP:
        if os.path.isdir(folder):
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"size={args.tmp_size},mode=1777")
    for folder in hide:
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    for folder, handle in zip(keep, handles):
        os.makedirs(folder, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", folder, None, MS_BIND | MS_REC)
        _mount(None, folder, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(handle)
    for folder in hide:  # read-only once the kept folders are back in place
        _mount(None, folder, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)

    uid = args.uid
    for sub in ("work", "home"):
        os.makedirs(f"/tmp/{sub}", mode=0o700)
        os.chown(f"/tmp/{sub}", uid, uid)
    private = "/tmp/home/kernel.json"
    with open(private, "wb") as f:
        f.write(connection)
    os.chown(private, uid, uid)
    os.chmod(private, 0o600)

    kernel = os.fork()
    if kernel == 0:
        _become(args.uid, [part.replace("{connection_file}", private) for part in command])
    # This process is the first of the private process table: it reaps what the kernel
    # leaves and ends with the kernel; when it ends, every process of the table is killed.
    while True:
        pid, status = os.wait()
        if pid == kernel:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _become(uid: int, command: list[str]) -> None:
    """Drop to ``uid`` for good and execute the kernel."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    _libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != 1:  # the first process is already gone
        os._exit(1)
    os.umask(0o077)
    os.chdir("/tmp/work")
    env = dict(os.environ, HOME="/tmp/home", TMPDIR="/tmp", USER="grader-kernel",
               XDG_CACHE_HOME="/tmp/home/.cache", MPLCONFIGDIR="/tmp/home/.matplotlib",
               IPYTHONDIR="/tmp/home/.ipython", JUPYTER_RUNTIME_DIR="/tmp/home/.jupyter")
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main(sys.argv[1:])
