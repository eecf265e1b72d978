"""The Kiln side: `kiln build`, `kiln bench` (its --export-times JSON is parsed, not its text) and `kiln infer` for
the accuracy check, each a subprocess with a time limit. Failures come back as one line, never as an exception."""

import glob
import json
import os
import statistics
import subprocess
import time

import numpy as np

from bench_stats import maxRelErr, summarize

# Tolerances of docs/cli.md's `kiln compare`, by the lowest precision an engine allows: max|kiln - ref| / max|ref|.
TOLERANCE = {"fp32": 1e-4, "tf32": 2e-3, "fp16": 1e-2}


def _oneLineError(proc: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (proc.stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("kiln: error:")]
    if errors:
        return errors[-1]
    return lines[-1][:400] if lines else f"exit code {proc.returncode} and nothing on stderr"


class Kiln:
    def __init__(self, exe: str, backend: str, logDir: str, optLevel=None):
        self.exe = exe
        self.optLevel = optLevel
        self.backend = backend
        self.logDir = logDir
        self.benchFlags = self._benchFlags()

    def _benchFlags(self) -> dict:
        """The spellings this kiln accepts: the CUDA path of `kiln bench` adds --no-data-transfers (main has
        --no-transfers) and may not be merged where the suite runs."""
        try:
            text = subprocess.run([self.exe, "bench", "--help"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            text = ""
        flags = {}
        for want in ("--cuda-graph", "--spin-wait", "--streams"):
            flags[want] = want if want in text else None
        flags["--no-data-transfers"] = next((f for f in ("--no-data-transfers", "--no-transfers") if f in text), None)
        return flags

    def _run(self, args: list, timeout: float, log: str) -> tuple:
        """(CompletedProcess or None, seconds, error or None); stdout and stderr go to the log file too."""
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([self.exe] + args, capture_output=True, text=True, timeout=max(timeout, 1))
        except subprocess.TimeoutExpired as e:
            self._log(log, args, e.stdout, e.stderr)
            return None, time.perf_counter() - t0, f"timed out after {timeout:.0f} s (the suite's limit)"
        except OSError as e:
            return None, time.perf_counter() - t0, f"cannot run {self.exe}: {e}"
        seconds = time.perf_counter() - t0
        self._log(log, args, proc.stdout, proc.stderr)
        return proc, seconds, None if proc.returncode == 0 else _oneLineError(proc)

    def _log(self, name, args, out, err):
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

        with open(os.path.join(self.logDir, name), "a") as f:
            f.write("$ kiln " + " ".join(args) + "\n" + text(out) + text(err) + "\n")

    # -------------------------------------------------------------------------------------------------------- build
    def build(self, onnx: str, engine: str, inputName: str, shape: tuple, precision: str, timingCache: str,
              timeout: float, force: bool = False) -> dict:
        flags = {"fp32": ["--no-tf32"], "tf32": ["--tf32"], "fp16": ["--fp16"]}[precision]
        args = ["build", onnx, "-o", engine, "--backend", self.backend, "--shapes", _shapeArg(inputName, shape),
                "--timing-cache", timingCache] + flags + (["--force"] if force else [])
        if self.optLevel is not None:
            args += ["--opt-level", str(self.optLevel)]
        proc, seconds, error = self._run(args, timeout, "kiln_build.log")
        out = {"command": "kiln " + " ".join(args), "seconds": seconds, "ok": error is None}
        if error:
            out["error"] = error
            return out
        out["summary"] = proc.stdout.strip().splitlines()[-8:]
        out["engine_bytes"] = os.path.getsize(engine) if os.path.exists(engine) else None
        out["timing_cache_bytes"] = os.path.getsize(timingCache) if os.path.exists(timingCache) else None
        return out

    # -------------------------------------------------------------------------------------------------------- bench
    def bench(self, engine: str, inputName: str, shape: tuple, opts: dict, exportPath: str, timeout: float) -> dict:
        args = ["bench", engine, "--shapes", _shapeArg(inputName, shape), "--warmup", str(opts["warmup_ms"]),
                "--iterations", str(opts["iterations"]), "--duration", str(opts["duration_s"]),
                "--export-times", exportPath]
        if self.backend == "cuda":  # the CPU backend only warns that they have no effect
            args += [self.benchFlags[f] for f in ("--cuda-graph", "--no-data-transfers", "--spin-wait")
                     if self.benchFlags.get(f)]
        if opts.get("streams", 1) > 1 and self.benchFlags.get("--streams"):
            args += ["--streams", str(opts["streams"])]
        proc, seconds, error = self._run(args, timeout, "kiln_bench.log")
        out = {"command": "kiln " + " ".join(args), "seconds": seconds, "ok": error is None}
        if error:
            out["error"] = error
            return out
        # Informational only (the numbers come from the JSON): how the iterations ran, and any warning.
        out["mode"] = next((line.split(":", 1)[1].strip() for line in proc.stdout.splitlines()
                            if line.startswith("Mode:")), None)
        out["warnings"] = [line.strip() for line in proc.stderr.splitlines() if "warning" in line][:5]
        try:
            out.update(parseExportTimes(exportPath, shape[0], opts.get("streams", 1)))
        except (OSError, ValueError, KeyError) as e:
            out.update({"ok": False, "error": f"cannot read {os.path.basename(exportPath)}: {e}"})
        return out

    # -------------------------------------------------------------------------------------------------------- check
    def check(self, engine: str, inputName: str, inputNpy: str, references: dict, precision: str, outDir: str,
              timeout: float) -> dict:
        """`kiln infer` on the reference input; max|kiln - torch FP32| / max|torch FP32| for each output."""
        os.makedirs(outDir, exist_ok=True)
        for old in glob.glob(os.path.join(outDir, "*.npy")):
            os.remove(old)
        args = ["infer", engine, "--input", f"{inputName}:{inputNpy}", "--save-outputs", outDir, "--outputs",
                ",".join(f"{n}:tensor" for n in references)]
        proc, seconds, error = self._run(args, timeout, "kiln_infer.log")
        if error:
            return {"ok": False, "error": error, "seconds": seconds}
        out = {"ok": True, "tolerance": TOLERANCE[precision], "outputs": {}, "seconds": seconds}
        for name, refPath in references.items():
            got = os.path.join(outDir, f"output.{name}.npy")
            if not os.path.exists(got):
                return {"ok": False, "error": f"kiln infer wrote no {os.path.basename(got)}"}
            k, r = np.load(got).astype(np.float64), np.load(refPath).astype(np.float64)
            if k.shape != r.shape:
                return {"ok": False, "error": f"output '{name}': kiln shape {k.shape}, torch {r.shape}"}
            out["outputs"][name] = maxRelErr(k, r)
        out["max_rel_err"] = max(out["outputs"].values())
        out["within"] = out["max_rel_err"] <= out["tolerance"]
        return out


def _shapeArg(name: str, shape: tuple) -> str:
    return f"{name}:" + "x".join(str(d) for d in shape)


def parseExportTimes(path: str, batch: int, streams: int) -> dict:
    """Stats of `kiln bench --export-times`: the GPU compute time (computeMs; latencyMs where absent) per iteration,
    and the throughput. With one stream the throughput is batch / median, as on the PyTorch side; with several,
    iterations / host walltime (iterations overlap)."""
    with open(path) as f:
        rows = json.load(f)
    if not rows:
        raise ValueError("no iterations")
    compute = [float(r.get("computeMs", r["latencyMs"])) for r in rows]
    out = summarize(compute)
    out["clock"] = "kiln bench computeMs (CUDA events on the GPU; the host clock on the CPU backend)"
    out["latency_median_ms"] = statistics.median(float(r["latencyMs"]) for r in rows)
    if all("endToEndMs" in r for r in rows):
        out["end_to_end_median_ms"] = statistics.median(float(r["endToEndMs"]) for r in rows)
    wall_ms = max(float(r["endMs"]) for r in rows) - min(float(r["startMs"]) for r in rows)
    out["walltime_items_per_s"] = len(rows) * batch * 1e3 / wall_ms if wall_ms > 0 else None
    out["items_per_s"] = batch * 1e3 / out["median_ms"] if streams <= 1 else out["walltime_items_per_s"]
    out["times_ms"] = [round(t, 5) for t in compute]
    return out
