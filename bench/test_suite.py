"""Unit tests of the benchmark suite's parts that the dry run cannot show: the plan's order and filters, the budget,
and the parsing of `kiln bench --export-times` (test_models.py: the models). ctest: bench.unit (label bench)."""

import json
import os
import sys
from types import SimpleNamespace

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
import workloads  # noqa: E402
from bench_stats import summarize  # noqa: E402
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
            return {"ok": True, "exporter": "torchscript", "opset": 17, "flops_per_item": 1e9, "seconds": took,
                    "check": {"input": "in.npy", "outputs": {"out": "ref.npy"}}}
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
