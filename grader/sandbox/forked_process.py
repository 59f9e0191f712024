"""A forked kernel's leader, as far as ``subprocess.Popen`` goes: what nbclient and the watchdog
hold of a kernel forked from the template (``grader.sandbox.forked_kernel``), exactly as they hold a
fresh kernel's launcher. Its exit status arrives on the connection to the template."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time


class ForkedProcess:
    """The leader (PID 1) of a forked kernel's namespace, as far as ``subprocess.Popen`` goes."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, conn: socket.socket):
        self.pid, self._conn, self.returncode = pid, conn, None

    def poll(self):
        if self.returncode is None:
            self._read(blocking=False)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("forked kernel", timeout)
            self._read(blocking=True, timeout=0.2)
        return self.returncode

    def send_signal(self, signum):
        try:
            os.killpg(self.pid, signum)  # the kernel is in its leader's group
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)  # PID 1 gone: the whole namespace goes with it
        except (ProcessLookupError, PermissionError):
            pass

    terminate = kill

    def _read(self, blocking: bool, timeout: float = 0.0):
        self._conn.settimeout(timeout if blocking else 0.0)
        try:
            data = self._conn.recv(4096)
        except (BlockingIOError, socket.timeout):
            return
        except OSError:
            data = b""
        if not data:  # the template died: so did this kernel (parent-death signals)
            self.returncode = -signal.SIGKILL
            return
        for line in data.decode().splitlines():
            message = json.loads(line)
            if "exit" in message:
                self.returncode = message["exit"]
        if self.returncode is not None:
            self._conn.close()
