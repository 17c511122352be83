"""The grader's own kernel driver: start a Jupyter kernel, run cells one by one, stop it.

The grader talks to the kernel over the Jupyter messaging protocol and keeps every verdict in
its own memory: a cell counts as run without error only when the kernel's ``execute_reply``
for that very request says ``status: ok``. Nothing the kernel prints is read (its output
channel is not even subscribed to), and no file or environment variable tells the kernel
where results go. What the grader asks the kernel for is data (``user_expressions``), which
:mod:`~testtime.assignments.checks` compares with the instructor's values.

While a cell runs, the grader polls the kernel process every 0.2 s, so a dead kernel is
noticed at once. A cell that runs past its limit is interrupted (an ``interrupt_request``);
if no reply comes within ``grace`` seconds the kernel is killed.

With a :class:`Sandbox` (the grader runs as root), the kernel runs through ``unshare`` and
:mod:`~testtime.assignments.sandbox` as an unprivileged user of its own, in a private mount
and process table; killing ``unshare`` kills the kernel and everything it started. Without
one, the kernel runs as the grader's user in a process group of its own.
"""

from __future__ import annotations

import os
import queue
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.connect import write_connection_file

SANDBOX_SCRIPT = Path(__file__).with_name("sandbox.py")
POLL = 0.2


class KernelError(RuntimeError):
    """The kernel could not be started."""


@dataclass
class Sandbox:
    """How to confine a kernel: its user id, the folders it must not see, and the folders
    inside them it needs (read-only)."""

    uid: int
    hide: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)

    def wrap(self, connection: Path, command: list[str]) -> list[str]:
        args = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
                sys.executable, "-I", str(SANDBOX_SCRIPT), "--uid", str(self.uid),
                "--connection", str(connection)]
        for path in self.hide:
            args += ["--hide", path]
        for path in self.keep:
            args += ["--keep", path]
        return args + ["--", *command]


@dataclass
class CellRun:
    """What the grader learnt from running one cell."""

    status: str  # ok | error | timeout | dead
    ename: str = ""
    expressions: dict = field(default_factory=dict)
    seconds: float = 0.0


class Kernel:
    """One kernel process, owned by the grader. Use as a context manager."""

    def __init__(self, folder: Path, env: dict[str, str], sandbox: Sandbox | None = None,
                 startup_timeout: float = 120, grace: float = 10):
        self.folder, self.env, self.sandbox = folder, env, sandbox
        self.startup_timeout, self.grace = startup_timeout, grace
        self.proc: subprocess.Popen | None = None
        self.client: BlockingKernelClient | None = None

    def __enter__(self) -> Kernel:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        connection = self.folder / "kernel.json"
        write_connection_file(str(connection), ip="127.0.0.1",
                              key=secrets.token_hex(32).encode())
        command = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection),
                   "--HistoryManager.enabled=False"]
        cwd = self.folder / "work"
        cwd.mkdir(exist_ok=True)
        env = dict(self.env)
        if self.sandbox is not None:
            command[4] = "{connection_file}"
            command = self.sandbox.wrap(connection, command)
        else:  # a home of its own, thrown away with the grader's temporary folder
            home = self.folder / "home"
            env.update(HOME=str(home), TMPDIR=str(cwd), IPYTHONDIR=str(home / ".ipython"),
                       MPLCONFIGDIR=str(home / ".matplotlib"),
                       XDG_CACHE_HOME=str(home / ".cache"),
                       JUPYTER_RUNTIME_DIR=str(home / ".jupyter"))
        self.log = open(self.folder / "kernel.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        client = BlockingKernelClient()
        client.load_connection_file(str(connection))
        client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=True)
        self.client = client
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            msg_id = client.kernel_info()
            if self._reply(msg_id, 1.0) is not None:
                return
        tail = (self.folder / "kernel.log").read_bytes()[-300:].decode(errors="replace")
        self.stop()
        raise KernelError(f"the kernel did not start ({' | '.join(tail.splitlines()[-2:])})")

    def _reply(self, msg_id: str, wait: float) -> dict | None:
        """The shell reply to ``msg_id`` if it comes within ``wait`` seconds."""
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                msg = self.client.get_shell_msg(timeout=min(left, POLL))
            except queue.Empty:
                if self.proc.poll() is not None:
                    return None
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def execute(self, code: str, timeout: float, *, silent: bool = False,
                expressions: dict[str, str] | None = None) -> CellRun:
        """Run ``code``; never raises for anything the cell does."""
        start = time.monotonic()
        if not self.alive():
            return CellRun("dead")
        msg_id = self.client.execute(code, silent=silent, store_history=not silent,
                                     user_expressions=expressions or {}, allow_stdin=False,
                                     stop_on_error=False)
        interrupted = False
        limit = timeout
        while True:
            msg = self._reply(msg_id, max(0.0, start + limit - time.monotonic()))
            took = round(time.monotonic() - start, 2)
            if msg is not None:
                content = msg.get("content", {})
                if interrupted:
                    return CellRun("timeout", seconds=took)
                ok = content.get("status") == "ok"
                ename = content.get("ename", "")
                return CellRun("ok" if ok else "error", ename if isinstance(ename, str) else "",
                               content.get("user_expressions") or {} if ok else {}, took)
            if not self.alive():
                return CellRun("dead", seconds=took)
            if interrupted:  # deaf to the interrupt: stop it the hard way
                self.kill()
                return CellRun("dead", ename="timeout", seconds=took)
            self.interrupt()
            interrupted, limit = True, limit + self.grace

    def interrupt(self) -> None:
        msg = self.client.session.msg("interrupt_request", {})
        self.client.control_channel.send(msg)

    def kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for kill in (os.killpg, os.kill):
            try:
                kill(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait()

    def stop(self) -> None:
        """Kill the kernel (and, sandboxed, every process it started); close the channels."""
        self.kill()
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if getattr(self, "log", None) is not None:
            self.log.close()
            self.log = None
