"""The GPU's SM clock and board power while one step of the suite runs, sampled by `nvidia-smi -lms` in the
background. A sustained batch run can hit the board's power limit, which lowers the clock: session 7 saw the H100 at
its 700 W cap with the SM clock between 1.5 and 1.97 GHz during UNet batch 16, so two runs compared at different
clocks compare the clocks too. Where nvidia-smi is missing (the CPU dry run) the sampler records nothing.
"""

import shutil
import statistics
import subprocess
import threading

QUERY = ["--query-gpu=clocks.sm,power.draw,power.limit", "--format=csv,noheader,nounits"]


class ClockSampler:
    """`with ClockSampler() as s: ...` samples every `period_ms` while the block runs; s.summary() is then a dict
    (empty without samples): median and lowest SM clock (MHz), median and highest power and the limit (W)."""

    def __init__(self, period_ms: int = 100, command=None):
        exe = shutil.which("nvidia-smi")
        self.command = command or ([exe] + QUERY + [f"-lms={period_ms}"] if exe else None)
        self.samples = []
        self._proc = None
        self._thread = None

    def __enter__(self):
        if self.command:
            try:
                self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                              text=True)
            except OSError:
                self._proc = None
        if self._proc:
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self):
        for line in self._proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            try:
                self.samples.append(tuple(float(p) for p in parts[:3]))
            except ValueError:
                continue  # "[N/A]" and the like

    def __exit__(self, *exc):
        if self._proc:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._thread.join(timeout=5)
        return False

    def summary(self) -> dict:
        if not self.samples:
            return {}
        clocks = [s[0] for s in self.samples]
        powers = [s[1] for s in self.samples if len(s) > 1]
        out = {"samples": len(self.samples), "sm_mhz_median": statistics.median(clocks), "sm_mhz_min": min(clocks)}
        if powers:
            out.update({"power_w_median": statistics.median(powers), "power_w_max": max(powers)})
        limits = [s[2] for s in self.samples if len(s) > 2]
        if limits:
            out["power_limit_w"] = max(limits)
        return out
