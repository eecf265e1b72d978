"""Unit tests of the benchmark suite's parts that the dry run cannot show: the plan's order and filters, the budget,
the parsing of `kiln bench --export-times`, and the accuracy line (test_models.py: the models). ctest: bench.unit
(label bench)."""

import glob
import json
import os
import sys
from types import SimpleNamespace

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_clocks  # noqa: E402
import report  # noqa: E402
import suite  # noqa: E402
import workloads  # noqa: E402
from bench_stats import maxRelErr, summarize  # noqa: E402
from kiln_runner import parseExportTimes  # noqa: E402


# ------------------------------------------------------------------------------------------------ plan and parsing
def plan(acceptance=False, **kw):
    args = SimpleNamespace(only=None, precisions=None, batches=None, mode="full")
    args.__dict__.update(kw)
    tasks = suite.selectTasks(workloads.specs("full"), args)
    return [t for t in tasks if t[3]] if acceptance else [t[:3] for t in tasks]


def test_full_plan_runs_every_configuration_extremes_first():
    tasks = plan()
    assert len(tasks) == 5 * 3 + 3 + 2  # ResNet-50 5 batches x 3 precisions, BERT 3, UNet 2
    assert len(set(tasks)) == len(tasks)
    assert tasks[:6] == [("resnet50", "fp16", 1), ("resnet50", "fp16", 256), ("bert", "fp16", 1),
                         ("bert", "fp16", 128), ("unet", "fp16", 1), ("unet", "fp16", 16)]
    assert tasks[6:10] == [("resnet50", "tf32", 1), ("resnet50", "tf32", 256), ("resnet50", "fp32", 1),
                           ("resnet50", "fp32", 256)]
    assert tasks[-1] == ("resnet50", "fp32", 128)
    assert plan(acceptance=True) == [t + (True,) for t in tasks[:6]]


def test_quick_plan_takes_small_batches():
    assert plan(mode="quick") == [("resnet50", "fp16", 1), ("resnet50", "fp16", 8), ("bert", "fp16", 1),
                                  ("bert", "fp16", 32), ("unet", "fp16", 1), ("unet", "fp16", 16),
                                  ("resnet50", "tf32", 1), ("resnet50", "fp32", 1)]


def test_filters_and_their_errors():
    assert plan(only="bert", batches="1,128") == [("bert", "fp16", 1), ("bert", "fp16", 128)]
    assert plan(only="resnet50", precisions="fp32", batches="8") == [("resnet50", "fp32", 8)]
    with pytest.raises(ValueError, match="--only 'vgg'"):
        plan(only="vgg")
    with pytest.raises(ValueError, match="--precisions 'int8'"):
        plan(precisions="int8")
    with pytest.raises(ValueError, match="select no workload"):
        plan(only="unet", batches="3")


def test_budget_uses_the_largest_time_seen():
    b = suite.Budget(100, 10, dict(suite.ESTIMATES))
    assert b.estimate("compile", "bert") == suite.ESTIMATES["compile"]
    b.observe("compile", "bert", 10)
    b.observe("compile", "bert", 5)
    assert b.estimate("compile", "bert") == pytest.approx(12)
    assert 89 < b.left() <= 90


def test_summarize_nearest_rank():
    s = summarize([float(v) for v in range(1, 101)])
    assert (s["median_ms"], s["p90_ms"], s["p99_ms"], s["min_ms"], s["iterations"]) == (50.5, 90, 99, 1, 100)
    assert summarize([2.0])["p90_ms"] == 2.0


def _times(tmp_path, rows):
    p = tmp_path / "t.json"
    p.write_text(json.dumps(rows))
    return str(p)


def test_export_times_of_the_cpu_backend(tmp_path):
    rows = [{"iteration": i, "stream": 0, "startMs": 10.0 * i, "endMs": 10.0 * i + 4, "latencyMs": 4.0,
             "enqueueMs": 4.0, "computeMs": 4.0} for i in range(5)]
    r = parseExportTimes(_times(tmp_path, rows), 8, 1)
    assert r["median_ms"] == 4.0 and r["items_per_s"] == pytest.approx(2000)
    assert r["walltime_items_per_s"] == pytest.approx(5 * 8 * 1e3 / 44)
    assert "end_to_end_median_ms" not in r


def test_export_times_of_a_gpu_run_use_the_gpu_compute_time(tmp_path):
    # The CUDA path of kiln bench adds h2dMs, d2hMs and endToEndMs; computeMs is the GPU time between events.
    rows = [{"iteration": i, "stream": i % 2, "startMs": 1.0 * i, "endMs": 1.0 * i + 2.5, "latencyMs": 2.2,
             "enqueueMs": 0.01, "computeMs": 2.0, "h2dMs": 0.1, "d2hMs": 0.1, "endToEndMs": 2.5} for i in range(4)]
    one = parseExportTimes(_times(tmp_path, rows), 1, 1)
    assert one["median_ms"] == 2.0 and one["latency_median_ms"] == 2.2 and one["end_to_end_median_ms"] == 2.5
    assert one["items_per_s"] == pytest.approx(500)
    two = parseExportTimes(_times(tmp_path, rows), 1, 2)  # overlapping streams: iterations over walltime
    assert two["items_per_s"] == pytest.approx(4 * 1e3 / 5.5)
    with pytest.raises(ValueError):
        parseExportTimes(_times(tmp_path, []), 1, 1)


# ------------------------------------------------------------------------------------------------ the worker's limits
FAKE_WORKER = r'''
import json, os, sys, time
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["cmd"] == "sleep":
        print("a compiler's partial line without its newline", end="", flush=True)
        time.sleep(600)
    if cmd["cmd"] == "crash":
        os._exit(9)
    print("chatter from a compiler")
    print("@@kiln-bench@@ " + json.dumps({"ok": True, "pid": os.getpid()}), flush=True)
'''


def test_worker_timeout_kills_the_group_and_the_next_call_starts_afresh(tmp_path):
    from worker_client import WorkerClient
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    w = WorkerClient(sys.executable, "dry", 0, str(tmp_path), str(tmp_path / "worker.log"), script=str(script))
    first = w.call({"cmd": "info"}, 30)
    assert first["ok"] and w.starts == 1
    slow = w.call({"cmd": "sleep"}, 1.5)
    assert slow == {"ok": False, "timed_out": True, "error": "timed out after 2 s (the suite's limit for this step)"}
    with pytest.raises(ProcessLookupError):
        os.kill(first["pid"], 0)  # killed with its process group
    again = w.call({"cmd": "info"}, 30)
    assert again["ok"] and again["pid"] != first["pid"] and w.starts == 2
    crash = w.call({"cmd": "crash"}, 30)
    assert not crash["ok"] and not crash["timed_out"] and "exited with code 9" in crash["error"]
    w.close()
    assert "chatter from a compiler" in (tmp_path / "worker.log").read_text()


# ------------------------------------------------------------------ the plan under a budget, with a fake GPU and clock
class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeWorker:
    """Answers as bench/worker.py does, taking `seconds[step]` of the fake clock per command."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds, self.calls, self.starts = clock, seconds, [], 1

    def call(self, cmd, timeout):
        step = cmd["cmd"] if cmd["cmd"] != "run" else cmd["mode"] if cmd["mode"] == "eager" else cmd["compile_mode"]
        self.calls.append((step, cmd.get("model"), cmd.get("precision"), cmd.get("batch")))
        took = self.seconds.get(step, 1.0)
        if took > timeout:
            self.clock.now += timeout
            return {"ok": False, "timed_out": True, "error": f"timed out after {timeout:.0f} s"}
        self.clock.now += took
        if cmd["cmd"] == "info":
            return {"ok": True, "torch": "2.11.0", "device": "cuda", "gpu": "H100", "seconds": took}
        if cmd["cmd"] == "ceiling":
            return {"ok": True, "fp16_tflops": 700.0, "tf32_tflops": 350.0, "fp32_tflops": 50.0, "seconds": took}
        if cmd["cmd"] == "export":
            peers = {"tf32": {"ok": True, "max_rel_err": 1.5e-2, "outputs": {"out": 1.5e-2}},
                     "fp16": {"ok": False, "unavailable": "torch 1.13 on cpu: RuntimeError: no Half conv"}}
            return {"ok": True, "exporter": "torchscript", "opset": 17, "flops_per_item": 1e9, "seconds": took,
                    "check": {"input": "in.npy", "outputs": {"out": "ref.npy"}, "peer_errors": peers}}
        return {"ok": True, "median_ms": 2.0, "items_per_s": cmd["batch"] * 500.0, "seconds": took}

    def kill(self):
        self.starts += 1


class FakeKiln:
    def __init__(self, clock, build_s):
        self.clock, self.build_s, self.exe, self.backend = clock, build_s, "kiln", "cuda"

    def build(self, onnx, engine, name, shape, prec, cache, timeout, force=False):
        self.clock.now += self.build_s
        return {"ok": True, "seconds": self.build_s}

    def bench(self, engine, name, shape, opts, path, timeout):
        self.clock.now += 3
        return {"ok": True, "seconds": 3, "median_ms": 1.0, "items_per_s": shape[0] * 1000.0}

    def check(self, engine, name, inp, refs, prec, out, timeout):
        return {"ok": True, "seconds": 0, "max_rel_err": 1e-3, "tolerance": 1e-2, "within": True}


def runPlan(tmp_path, mode, budget_s, compile_s, build_s=5, extra=()):
    args = suite.parseArgs(["--kiln", "kiln", "--budget", str(budget_s)] + (["--quick"] if mode == "quick" else [])
                           + list(extra))
    clock = FakeClock()
    budget = suite.Budget(args.budget, 15, dict(suite.ESTIMATES), clock=clock)
    specs = workloads.specs("full")
    tasks = suite.selectTasks(specs, args)
    worker = FakeWorker(clock, {"info": 5, "ceiling": 5, "export": 10, "eager": 3, "reduce-overhead": compile_s,
                                "max-autotune": 250})
    results = {"models": {}, "rows": []}
    assert suite.run(args, suite.SETTINGS[args.mode], budget, specs, tasks, worker, FakeKiln(clock, build_s),
                     str(tmp_path), results) == 0
    return results, worker, clock


def compiled(results):
    return [(r["workload"], r["precision"], r["batch"]) for r in results["rows"] if (r.get("compile") or {}).get("ok")]


def test_quick_compiles_batch_1_fp16_only_and_no_max_autotune(tmp_path):
    results, worker, clock = runPlan(tmp_path, "quick", 550, 25)
    assert compiled(results) == [("resnet50", "fp16", 1), ("bert", "fp16", 1), ("unet", "fp16", 1)]
    assert all(r["kiln"]["bench"]["ok"] for r in results["rows"]) and len(results["rows"]) == 8
    assert {r["max_autotune"]["skipped"] for r in results["rows"] if "max_autotune" in r} == {"--quick"}
    assert clock.now < 550 - 15


def test_full_run_compiles_the_acceptance_rows_first_and_stays_in_budget(tmp_path):
    results, worker, clock = runPlan(tmp_path, "full", 550, 25)
    acceptance = [("resnet50", "fp16", 1), ("resnet50", "fp16", 256), ("bert", "fp16", 1), ("bert", "fp16", 128),
                  ("unet", "fp16", 1), ("unet", "fp16", 16)]
    assert compiled(results)[:6] == acceptance
    assert clock.now <= 550 - 15 + 5  # the last step may start just before the deadline
    skipped = [r for r in results["rows"] if (r.get("compile") or {}).get("skipped")]
    assert skipped and all("would not fit" in r["compile"]["skipped"] for r in skipped)
    # max-autotune (250 s) cannot fit after a full run
    assert all("would not fit" in r["max_autotune"]["skipped"] for r in results["rows"] if "max_autotune" in r)


def test_slow_builds_skip_the_last_rows_whole_and_say_so(tmp_path):
    results, worker, clock = runPlan(tmp_path, "full", 550, 25, build_s=40)
    out = [r for r in results["rows"] if r["kiln"]["build"].get("skipped")]
    assert out and all(r["kiln"]["build"]["skipped"].startswith("out of time") for r in out)
    assert results["rows"][0]["kiln"]["bench"]["ok"] and clock.now <= 550


def test_max_autotune_runs_where_it_fits(tmp_path):
    results, worker, clock = runPlan(tmp_path, "full", 550, 25, extra=["--only", "resnet50", "--precisions", "fp16",
                                                                      "--batches", "1"])
    assert results["rows"][0]["max_autotune"]["ok"]
    assert ("max-autotune", "resnet50", "fp16", 1) in worker.calls


def test_batch_1_checks_carry_pytorchs_own_error_at_their_precision(tmp_path):
    results, worker, clock = runPlan(tmp_path, "quick", 550, 25, extra=["--only", "resnet50"])
    checks = {r["precision"]: r["kiln"]["check"] for r in results["rows"] if r["batch"] == 1}
    assert set(checks) == {"fp32", "tf32", "fp16"}
    assert "peer_error" not in checks["fp32"]  # PyTorch FP32 is the reference itself
    assert checks["tf32"]["peer_error"]["max_rel_err"] == 1.5e-2
    assert checks["fp16"]["peer_error"]["unavailable"].startswith("torch 1.13 on cpu")
    assert not any("check" in r["kiln"] for r in results["rows"] if r["batch"] != 1)


# ------------------------------------------------------------------------------------------------ the accuracy line
def accuracyResults(checks):
    """A results dict with one batch-1 row per (workload, precision, check), as report.table reads it."""
    rows = [{"workload": w, "title": w, "precision": p, "batch": 1, "kiln": {"check": c}, "eager": {}, "ratios": {}}
            for w, p, c in checks]
    return {"mode": "full", "model_order": ["resnet50", "bert"], "rows": rows, "environment": {}, "ceilings": {},
            "models": {}, "budget": {"elapsed_s": 1, "budget_s": 550, "worker_starts": 1}}


def accuracyLine(results):
    return next(line for line in report.table(results).splitlines() if line.startswith("accuracy,"))


def kilnCheck(err, tol, peer=None):
    c = {"ok": True, "max_rel_err": err, "tolerance": tol, "within": err <= tol}
    if peer is not None:
        c["peer_error"] = peer
    return c


def test_accuracy_line_shows_the_peers_error_and_says_when_kiln_is_as_bad_as_torch():
    results = accuracyResults([
        ("resnet50", "fp32", kilnCheck(2.4e-5, 1e-4)),
        ("resnet50", "tf32", kilnCheck(2.1e-2, 2e-3, {"ok": True, "max_rel_err": 1.9e-2})),  # above, as torch
        ("resnet50", "fp16", kilnCheck(5.1e-2, 1e-2, {"ok": True, "max_rel_err": 2.5e-2})),  # above, 2.04x torch's
        ("bert", "fp16", kilnCheck(1.5e-3, 1e-2, {"ok": True, "max_rel_err": 1.2e-3}))])
    line = accuracyLine(results)
    assert line.startswith("accuracy, Kiln vs PyTorch FP32 (TF32 off) at batch 1, max|diff|/max|ref| (torch P: "
                           "PyTorch's own error at precision P on the same input; 'as torch': above the bound but "
                           "within 2x of it): ")
    assert line.endswith("resnet50 fp32 2.4e-05 (ok 1e-04); "
                         "resnet50 tf32 2.1e-02 (torch tf32 1.9e-02; ABOVE 2e-03, as torch); "
                         "resnet50 fp16 5.1e-02 (torch fp16 2.5e-02; ABOVE 1e-02); "  # over 2x torch's: Kiln is worse
                         "bert fp16 1.5e-03 (torch fp16 1.2e-03; ok 1e-02)")


def test_exactly_twice_torchs_error_is_as_torch_and_a_zero_or_missing_one_never_is():
    def verdict(err, peer):
        return report._accuracy({"workload": "m", "precision": "fp16"}, kilnCheck(err, 1e-2, peer))

    assert verdict(4e-2, {"ok": True, "max_rel_err": 2e-2}) == \
        "m fp16 4.0e-02 (torch fp16 2.0e-02; ABOVE 1e-02, as torch)"
    assert verdict(4e-2, {"ok": True, "max_rel_err": 0.0}) == "m fp16 4.0e-02 (torch fp16 0.0e+00; ABOVE 1e-02)"
    assert verdict(float("inf"), {"ok": True, "max_rel_err": 2e-2}) == "m fp16 inf (torch fp16 2.0e-02; ABOVE 1e-02)"
    assert verdict(4e-2, {"ok": False, "unavailable": "why"}) == "m fp16 4.0e-02 (torch fp16 n/a; ABOVE 1e-02)"
    assert verdict(4e-2, None) == "m fp16 4.0e-02 (ABOVE 1e-02)"


def test_an_unavailable_peer_error_says_why_under_the_table():
    reason = "torch 1.13.0a0 on cpu: RuntimeError: \"slow_conv2d_cpu\" not implemented for 'Half'"
    results = accuracyResults([("resnet50", "fp16", kilnCheck(3e-3, 1e-2, {"ok": False, "unavailable": reason})),
                               ("resnet50", "fp32", {"ok": False, "error": "kiln: error: x"})])
    text = report.table(results)
    assert "resnet50 fp32 FAIL; resnet50 fp16 3.0e-03 (torch fp16 n/a; ok 1e-02)" in text  # sorted by precision
    assert f"  [resnet50 fp16 b1] torch fp16 error: unavailable: {reason}" in text.splitlines()


def test_result_files_without_the_peers_error_render_as_they_did():
    """bench/results/ holds runs from before the field (and after): each JSON renders as the table saved with it."""
    paths = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "*.json")))
    old = 0
    for path in paths:
        with open(path) as f:
            results = json.load(f)
        with open(path[:-len(".json")] + ".txt") as f:
            assert report.table(results) == f.read().rstrip("\n"), path
        old += not any("peer_error" in (r["kiln"].get("check") or {}) for r in results["rows"])
    assert old >= 1
    line = accuracyLine(accuracyResults([("resnet50", "fp16", kilnCheck(2.8e-2, 1e-2))]))
    assert line == "accuracy, Kiln vs PyTorch FP32 (TF32 off) at batch 1, max|diff|/max|ref|: resnet50 fp16 2.8e-02 " \
                   "(ABOVE 1e-02)"


def test_max_rel_err():
    assert maxRelErr([1.0, -2.0], [1.0, -4.0]) == pytest.approx(0.5)
    assert maxRelErr([float("nan"), 0.0], [1.0, 1.0]) == float("inf")
    with pytest.raises(ValueError, match=r"shape \(2,\), reference \(3,\)"):
        maxRelErr([1.0, 2.0], [1.0, 2.0, 3.0])


def test_a_dry_run_fails_when_a_check_has_no_peer_error_nor_its_reason():
    def row(prec, check):
        ok = {"ok": True}
        return {"workload": "resnet50", "precision": prec, "batch": 1, "eager": ok, "compile": ok,
                "max_autotune": ok, "kiln": {"build": ok, "bench": ok, "check": check}, "kiln_tflops": 1.0,
                "ratios": {"kiln_vs_eager": 1.0}}

    unavailable = {"ok": False, "unavailable": "TF32 is a CUDA mode"}
    rows = [row("fp32", kilnCheck(1e-5, 1e-4)), row("tf32", kilnCheck(1e-3, 2e-3, unavailable)),
            row("fp16", kilnCheck(1e-3, 1e-2))]
    assert suite.dryRunProblems({"models": {}, "rows": rows}) == [
        "resnet50 fp16 b1: no PyTorch fp16 error, nor the reason it is unavailable"]


# ------------------------------------------------------------------------------------------------ GPU clocks
def test_clock_sampler_summarizes_what_nvidia_smi_printed():
    # A stand-in for nvidia-smi: three samples (clock MHz, power W, limit W) and one it cannot read.
    lines = "1980, 420.5, 700.00\n[N/A], 1, 2\n1515, 700.1, 700.00\n1700, 650.0, 700.00\n"
    fake = [sys.executable, "-c", f"import sys; sys.stdout.write({lines!r})"]
    with gpu_clocks.ClockSampler(command=fake) as s:
        s._proc.wait(timeout=30)  # the stand-in prints and exits; nvidia-smi runs until the block ends
    assert s.summary() == {"samples": 3, "sm_mhz_median": 1700.0, "sm_mhz_min": 1515.0, "power_w_median": 650.0,
                           "power_w_max": 700.1, "power_limit_w": 700.0}


def test_clock_sampler_without_nvidia_smi_records_nothing():
    with gpu_clocks.ClockSampler(command=["/nonexistent/nvidia-smi"]) as s:
        pass
    assert s.summary() == {}


def test_clock_line_under_the_table():
    row = {"workload": "unet", "precision": "fp16", "batch": 16,
           "eager": {"gpu_clocks": {"sm_mhz_median": 1920.0, "power_w_max": 610.0, "power_limit_w": 700.0}},
           "kiln": {"bench": {"gpu_clocks": {"sm_mhz_median": 1710.0, "power_w_max": 700.4, "power_limit_w": 700.0}}}}
    assert report._clocks(row) == "unet fp16 b16: eager 1.92 GHz 610/700 W, Kiln 1.71 GHz 700/700 W"
    assert report._clocks({"workload": "m", "precision": "fp32", "batch": 1, "eager": {}, "kiln": {}}) == ""
