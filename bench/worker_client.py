"""suite.py's handle on bench/worker.py: sends one command, waits for its answer at most a given time, and kills the
worker's whole process group (the compilers start processes of their own) when the time runs out. The next command
starts a fresh worker, which reloads the exported weights from the state dicts that the exports saved."""

import json
import os
import selectors
import signal
import subprocess
import time

MARK = "@@kiln-bench@@ "  # bench/worker.py's answer prefix
HERE = os.path.dirname(os.path.abspath(__file__))


class WorkerClient:
    def __init__(self, python: str, scale: str, seed: int, work: str, logPath: str, script: str = None):
        self.argv = [python, script or os.path.join(HERE, "worker.py"), scale, str(seed), work]
        self.logPath = logPath
        self.proc = None
        self.starts = 0

    def _start(self):
        self.log = open(self.logPath, "a")
        self.log.write(f"--- worker start {self.starts + 1}: {' '.join(self.argv)}\n")
        self.log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # A session of its own: on a timeout the group (the worker and the compilers' subprocesses) is killed.
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     env=env, start_new_session=True)
        self.pending = b""  # stdout read but not yet a whole line
        self.starts += 1

    def call(self, cmd: dict, timeout: float) -> dict:
        """The worker's answer, or {"ok": False, "error": ..., "timed_out": bool} when it died or ran out of time."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        t0 = time.monotonic()
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.kill()
            return {"ok": False, "error": f"the PyTorch worker is gone: {e}", "timed_out": False}
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                left = timeout - (time.monotonic() - t0)
                if left <= 0:
                    self.kill()
                    return {"ok": False, "timed_out": True,
                            "error": f"timed out after {timeout:.0f} s (the suite's limit for this step)"}
                if not sel.select(min(left, 5.0)):
                    continue
                # Raw reads, never readline: a partial line must not block past the time limit.
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:  # EOF: the worker died (a crash, out of memory)
                    code = self.proc.wait()
                    self.kill()
                    return {"ok": False, "timed_out": False,
                            "error": f"the PyTorch worker exited with code {code} (see worker.log)"}
                self.pending += chunk
                while b"\n" in self.pending:
                    raw, self.pending = self.pending.split(b"\n", 1)
                    line = raw.decode(errors="replace")
                    if line.startswith(MARK):
                        reply = json.loads(line[len(MARK):])
                        reply["seconds"] = time.monotonic() - t0
                        return reply
                    self.log.write(line + "\n")  # the compilers' chatter on stdout
        finally:
            sel.close()

    def kill(self):
        if self.proc is None:
            return
        # The group this client started, by its id; also after the worker itself exited, as compile workers it
        # started may still be alive in its group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.proc = None
        self.log.close()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"cmd": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
