#!/usr/bin/env python3
"""Kiln against PyTorch eager and torch.compile on the same GPU, in one run (issue 7, item 4).

For each model: export it from PyTorch to ONNX (random weights, fixed seed), then for each (precision, batch):
PyTorch eager, torch.compile (mode reduce-overhead), `kiln build` + `kiln bench`; max-autotune at batch 1 where its
compile fits what is left of the time budget. The plan runs the acceptance configurations first and skips, with the
reason, what would not fit. Prints a table and writes everything as JSON (bench/README.md says how to run it).

    bench/run_gpu.sh [--quick] [--only resnet50,bert] [--precisions fp16] [--batches 1,256]   # on the GPU machine
    /usr/bin/python3 bench/suite.py --dry-run --kiln build/kiln                              # anywhere, CPU only
"""

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402
from gpu_clocks import ClockSampler  # noqa: E402
import workloads  # noqa: E402
from kiln_runner import Kiln  # noqa: E402
from worker_client import WorkerClient  # noqa: E402

# Iterations per mode: PyTorch (warm-up seconds and minimum calls, at least min_iters timed calls, more up to
# target_s) and kiln bench (--warmup ms, --iterations, --duration s).
SETTINGS = {
    "full": {"torch": {"warmup_s": 0.3, "warmup_min_iters": 5, "min_iters": 50, "target_s": 1.0, "max_iters": 2000},
             "kiln": {"warmup_ms": 300, "iterations": 50, "duration_s": 1.0}, "ceiling": (8192, 20)},
    "quick": {"torch": {"warmup_s": 0.1, "warmup_min_iters": 3, "min_iters": 20, "target_s": 0.2, "max_iters": 200},
              "kiln": {"warmup_ms": 100, "iterations": 20, "duration_s": 0.2}, "ceiling": (8192, 10)},
    "dry-run": {"torch": {"warmup_s": 0.0, "warmup_min_iters": 1, "min_iters": 1, "target_s": 0.0, "max_iters": 1},
                "kiln": {"warmup_ms": 0, "iterations": 1, "duration_s": 0}, "ceiling": (256, 3)},
}

# First guesses of each step's seconds, replaced by what the run measures (the largest seen, plus a fifth). The
# issue's figures: torch.compile took 20-28 s on ResNet-50 (reduce-overhead) and 283 s with max-autotune.
ESTIMATES = {"eager": 6, "compile": 40, "max_autotune": 300, "build": 20, "bench": 10}
DRY_ESTIMATES = {"eager": 2, "compile": 5, "max_autotune": 5, "build": 10, "bench": 5}
# Hard limits of one step, whatever the budget (a step running past its limit is stopped and reported).
LIMITS = {"export": 300, "eager": 120, "compile": 240, "max_autotune": 480, "build": 300, "check": 120, "info": 180}
# Kiln engines rebuilt with their timing cache, to report the warm-cache build time (issue 7's acceptance).
WARM_REBUILD = {("resnet50", "fp16")}


class Budget:
    """The run's deadline and the running estimates of each step's time per model."""

    def __init__(self, total_s: float, margin_s: float, initial: dict, clock=time.monotonic):
        self.clock = clock
        self.total = total_s
        self.t0 = clock()
        self.deadline = self.t0 + total_s - margin_s
        self.initial = initial
        self.seen = {}

    def left(self) -> float:
        return self.deadline - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def estimate(self, step: str, model: str) -> float:
        return self.seen.get((step, model), self.initial[step])

    def observe(self, step: str, model: str, seconds: float) -> None:
        self.seen[(step, model)] = max(self.seen.get((step, model), 0.0), 1.2 * seconds)

    def taskCost(self, model: str) -> float:
        """What a task needs besides its compiles: eager, the Kiln build and bench."""
        return sum(self.estimate(s, model) for s in ("eager", "build", "bench"))


def parseArgs(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--kiln", default=os.environ.get("KILN", "kiln"), help="the kiln executable (default $KILN)")
    p.add_argument("--quick", action="store_true", help="smoke run: the two smallest batches at FP16, batch 1 in "
                   "FP32/TF32, few iterations, torch.compile at batch 1 in FP16 only, no max-autotune")
    p.add_argument("--dry-run", action="store_true", help="no GPU needed: small inputs, CPU export and Kiln's CPU "
                   "backend, one iteration each; exits 1 on any failure (the ctest bench.dry_run)")
    p.add_argument("--only", help="models, comma-separated: resnet50,bert,unet")
    p.add_argument("--precisions", help="subset of fp32,tf32,fp16")
    p.add_argument("--batches", help="subset of the batch sizes, e.g. 1,256")
    p.add_argument("--budget", type=float, default=float(os.environ.get("KILN_BENCH_BUDGET", 550)),
                   help="seconds for the whole run (default 550: the device tool stops a command at 600)")
    p.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    p.add_argument("--max-autotune", choices=["auto", "off", "force"], default="auto",
                   help="auto: at batch 1 in FP16 where its estimated compile fits; force: try within the budget")
    p.add_argument("--exporter", choices=["auto", "torchscript", "dynamo"], default="auto",
                   help="auto: TorchScript (dynamo=False) first, the dynamo exporter if it fails")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--kiln-backend", help="backend of the engines (default: cuda; cpu in --dry-run)")
    p.add_argument("--opt-level", type=int, choices=range(0, 6), metavar="0..5",
                   help="kiln build --opt-level (tactic timing; default: kiln's own, 3)")
    p.add_argument("--streams", type=int, default=1, help="kiln bench --streams (throughput from walltime if > 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", help="ONNX files, engines, logs; kept (default: a temporary folder, removed at the "
                   "end unless --keep-work)")
    p.add_argument("--keep-work", action="store_true", help="keep the temporary work folder")
    p.add_argument("--results-dir", default=os.path.join(HERE, "results"), help="where <timestamp>.json goes")
    p.add_argument("--out", default=os.environ.get("OUT"), help="also copy the JSON, table and logs here "
                   "(default $OUT, the device tool's folder)")
    p.add_argument("--python", default=sys.executable, help="the Python with torch for the worker")
    args = p.parse_args(argv)
    args.mode = "dry-run" if args.dry_run else "quick" if args.quick else "full"
    args.kiln_backend = args.kiln_backend or ("cpu" if args.dry_run else "cuda")
    return args


def _csv(text, cast=str):
    return None if not text else [cast(t) for t in text.split(",") if t]


def selectTasks(specs: dict, args) -> list:
    """(model, precision, batch, acceptance) in the order they run: each model's smallest and largest batch first
    (FP16: issue 7's acceptance configurations; then TF32 and FP32), then the batches between; so a budget that runs
    out costs the least informative rows."""
    only, precs, batches = _csv(args.only), _csv(args.precisions), _csv(args.batches, int)
    for name, values, allowed in (("--only", only, list(specs)), ("--precisions", precs, ["fp32", "tf32", "fp16"])):
        bad = [v for v in values or [] if v not in allowed]
        if bad:
            raise ValueError(f"{name} '{','.join(bad)}': choose from {','.join(allowed)}")
    tasks = []
    for mi, (name, spec) in enumerate(specs.items()):
        if only and name not in only:
            continue
        for prec in spec.precisions:
            if precs and prec not in precs:
                continue
            chosen = [b for b in spec.batches if not batches or b in batches]
            if args.mode != "full":  # small batches: two at FP16, one otherwise
                chosen = chosen[:2] if prec == "fp16" else chosen[:1]
            for b in chosen:
                extreme = b in (chosen[0], chosen[-1])
                order = (0 if extreme else 1, 2 - report.PRECISION_ORDER[prec], mi, b)
                tasks.append((order, (name, prec, b, extreme and prec == "fp16")))
    if not tasks:
        raise ValueError("--only/--precisions/--batches select no workload")
    return [t for _, t in sorted(tasks)]


def main(argv=None) -> int:
    args = parseArgs(argv)
    settings = SETTINGS[args.mode]
    budget = Budget(args.budget, 15 if args.mode != "dry-run" else 5,
                    DRY_ESTIMATES if args.mode == "dry-run" else ESTIMATES)
    specs = workloads.specs("dry" if args.dry_run else "full")
    try:
        tasks = selectTasks(specs, args)
    except ValueError as e:
        print(f"suite: error: {e}", file=sys.stderr)
        return 2
    kilnExe = shutil.which(args.kiln) or args.kiln
    if not os.path.isfile(kilnExe):
        print(f"suite: error: no kiln executable at '{args.kiln}' (build it, or give --kiln / $KILN)", file=sys.stderr)
        return 3
    if subprocess.run([args.python, "-c", "import torch"], capture_output=True).returncode != 0:
        print(f"suite: {args.python} cannot import torch" + (": dry run skipped" if args.dry_run else ""),
              file=sys.stderr)
        return 77 if args.dry_run else 3
    work = args.work_dir or tempfile.mkdtemp(prefix="kiln-bench-")
    os.makedirs(work, exist_ok=True)
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = {"suite": "kiln bench/suite.py", "format": 1, "timestamp": stamp, "mode": args.mode,
               "args": vars(args), "model_order": list(specs), "models": {}, "rows": [], "ceilings": {},
               "settings": settings, "environment": {}}
    worker = WorkerClient(args.python, "dry" if args.dry_run else "full", args.seed, work,
                          os.path.join(logs, "worker.log"))
    kiln = Kiln(kilnExe, args.kiln_backend, logs, args.opt_level)
    try:
        code = run(args, settings, budget, specs, tasks, worker, kiln, work, results)
    finally:
        worker.close()
    results["budget"] = {"budget_s": args.budget, "elapsed_s": budget.elapsed(), "worker_starts": worker.starts,
                         "estimates_end": {f"{k[0]}:{k[1]}": v for k, v in budget.seen.items()}}
    results["kiln_bench_flags"] = kiln.benchFlags
    for row in results["rows"]:
        report.derive(row, results["ceilings"])
    text = report.table(results)
    print("\n" + text)
    outDir = args.out or None
    written = report.writeResults(results, text, args.results_dir, outDir)
    if outDir:
        with tarfile.open(os.path.join(outDir, "bench_logs.tar.xz"), "w:xz") as tar:
            tar.add(logs, arcname="logs")
        written.append(os.path.join(outDir, "bench_logs.tar.xz"))
    print("wrote " + ", ".join(written))
    if not args.work_dir and not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    elif args.keep_work:
        print(f"kept the work folder {work}")
    if code == 0 and args.dry_run:
        problems = dryRunProblems(results)
        for p in problems:
            print(f"suite: dry run: {p}", file=sys.stderr)
        code = 1 if problems else 0
    return code


def run(args, settings, budget, specs, tasks, worker, kiln, work, results) -> int:
    info = worker.call({"cmd": "info"}, LIMITS["info"])
    if not info.get("ok"):
        print(f"suite: error: the PyTorch worker does not start: {info.get('error')}", file=sys.stderr)
        return 3
    results["environment"] = info
    plural = "" if len(tasks) == 1 else "s"
    print(f"suite: {args.mode}, {len(tasks)} workload{plural}, budget {args.budget:.0f} s; torch {info['torch']} on "
          f"{info.get('gpu', info['device'])}; kiln {kiln.exe} (--backend {kiln.backend})", flush=True)
    n, iters = settings["ceiling"]
    ceil = worker.call({"cmd": "ceiling", "n": n, "iters": iters}, LIMITS["info"])
    results["ceilings"] = ceil
    print(f"suite: ceilings {_brief(ceil, ('fp16_tflops', 'tf32_tflops', 'fp32_tflops', 'copy_tbps'))}", flush=True)

    for name in dict.fromkeys(t[0] for t in tasks):
        path = os.path.join(work, f"{name}.onnx")
        timeout = max(10.0, min(LIMITS["export"], budget.left()))
        r = worker.call({"cmd": "export", "model": name, "path": path, "exporter": args.exporter,
                         "opset": args.opset}, timeout)
        budget.observe("export", name, r.get("seconds", 0))
        r["path"] = path
        results["models"][name] = r
        print(f"suite: exported {name}: {_brief(r, ('exporter', 'opset', 'bytes', 'flops_per_item', 'seconds'))}"
              + (f" FAILED: {r.get('error') or r.get('export_error')}" if not r.get("exporter") else ""), flush=True)

    for i, (name, prec, batch, acceptance) in enumerate(tasks):
        # The time a compile must leave: the eager and Kiln runs of the workloads after this one; for an acceptance
        # workload only those of the other acceptance workloads (their compiles come before any later row).
        rest = sum(budget.taskCost(t[0]) for t in tasks[i + 1:] if t[3] or not acceptance)
        row = runTask(args, settings, budget, specs[name], prec, batch, rest, worker, kiln, work, results)
        results["rows"].append(row)
        print(f"suite: [{budget.elapsed():5.0f} s] {name} {prec} b{batch}: " + ", ".join(
            f"{k} {_short(row.get(k) if k != 'kiln' else row['kiln'].get('bench'))}"
            for k in ("eager", "compile", "kiln")), flush=True)

    maxAutotune(args, settings, budget, specs, worker, results)
    return 0


def runTask(args, settings, budget, spec, prec, batch, rest, worker, kiln, work, results) -> dict:
    name = spec.name
    model = results["models"][name]
    row = {"workload": name, "title": spec.title, "precision": prec, "batch": batch,
           "flops_per_item": model.get("flops_per_item"), "kiln": {}}
    if not model.get("ok"):  # the model could not even be made: nothing to time
        why = {"skipped": f"no model: {model.get('error')}"}
        row.update({"eager": why, "compile": why})
        row["kiln"]["build"] = why
        return row
    if budget.left() < budget.taskCost(name):
        why = {"skipped": f"out of time, {max(budget.left(), 0):.0f} s left and a {name} workload needs "
                          f"~{budget.taskCost(name):.0f} s"}
        row.update({"eager": why, "compile": why})
        row["kiln"]["build"] = why
        return row
    base = {"cmd": "run", "model": name, "precision": prec, "batch": batch, **settings["torch"]}

    with ClockSampler() as clocks:
        row["eager"] = _torch(worker, budget, dict(base, mode="eager"), "eager", name)
    row["eager"]["gpu_clocks"] = clocks.summary()
    if args.no_compile:
        row["compile"] = {"skipped": "--no-compile"}
    elif args.mode == "quick" and (batch != 1 or prec != "fp16"):
        row["compile"] = {"skipped": "--quick compiles at batch 1 in FP16 only"}
    else:
        need = budget.estimate("compile", name)
        room = budget.left() - rest - sum(budget.estimate(s, name) for s in ("build", "bench"))
        if need > room:
            row["compile"] = {"skipped": f"would not fit: ~{need:.0f} s needed, {max(room, 0):.0f} s left after the "
                                         "remaining workloads' eager and Kiln runs"}
        else:
            row["compile"] = _torch(worker, budget, dict(base, mode="compile", compile_mode="reduce-overhead",
                                                         standin=args.dry_run), "compile", name, room)

    if not model.get("exporter"):
        row["kiln"]["build"] = {"skipped": f"no ONNX file: {model.get('export_error')}"}
        return row
    shape = (batch,) + spec.itemShape
    engine = os.path.join(work, f"{name}.{prec}.b{batch}.engine")
    cache = os.path.join(work, f"{name}.{prec}.timing-cache")
    t = min(LIMITS["build"], max(budget.left(), 5))
    build = kiln.build(model["path"], engine, spec.inputName, shape, prec, cache, t)
    budget.observe("build", name, build["seconds"])
    row["kiln"]["build"] = build
    if build["ok"] and (name, prec) in WARM_REBUILD and not any(
            r["workload"] == name and r["precision"] == prec for r in results["rows"]):
        row["kiln"]["build_warm"] = kiln.build(model["path"], engine, spec.inputName, shape, prec, cache,
                                               min(LIMITS["build"], max(budget.left(), 5)), force=True)
    if build["ok"]:
        opts = dict(settings["kiln"], streams=args.streams)
        t = max(5.0, min(budget.left(), opts["duration_s"] + opts["warmup_ms"] / 1e3 + 120))
        with ClockSampler() as clocks:
            bench = kiln.bench(engine, spec.inputName, shape, opts,
                               os.path.join(work, "logs", _times(name, prec, batch)), t)
        bench["gpu_clocks"] = clocks.summary()
        row["kiln"]["bench"] = bench
        seconds = bench["seconds"]
        if batch == 1:
            check = model["check"]
            row["kiln"]["check"] = kiln.check(engine, spec.inputName, check["input"], check["outputs"], prec,
                                              os.path.join(work, "check"), min(LIMITS["check"], max(budget.left(), 5)))
            # PyTorch's own error at this precision on the same input, from the export (none for FP32: the reference)
            peer = (check.get("peer_errors") or {}).get(prec)
            if peer is not None:
                row["kiln"]["check"]["peer_error"] = peer
            seconds += row["kiln"]["check"].get("seconds", 0)
        budget.observe("bench", name, seconds)
        if os.path.exists(engine) and not os.environ.get("KILN_BENCH_KEEP_ENGINES"):
            os.remove(engine)  # several GB over a full run (bench/profile_gpu.sh keeps them to profile)
    return row


def _torch(worker, budget, cmd, step, model, room=None) -> dict:
    limit = LIMITS[step] if room is None else min(LIMITS[step], room)
    r = worker.call(cmd, max(5.0, min(limit, budget.left())))
    budget.observe(step, model, r.get("seconds", 0))
    if not r.get("ok"):
        worker.kill()  # a failed run may leave the CUDA context unusable: the next command starts a fresh worker
    return r


def maxAutotune(args, settings, budget, specs, worker, results) -> None:
    """torch.compile(mode="max-autotune") at batch 1 in FP16, where its compile fits what is left."""
    for row in results["rows"]:
        if row["batch"] != 1 or row["precision"] != "fp16":
            continue
        name = row["workload"]
        need = budget.estimate("max_autotune", name)
        if args.no_compile or args.max_autotune == "off":
            row["max_autotune"] = {"skipped": "--no-compile" if args.no_compile else "--max-autotune off"}
        elif args.mode == "quick":
            row["max_autotune"] = {"skipped": "--quick"}
        elif not (row.get("compile") or {}).get("ok"):
            row["max_autotune"] = {"skipped": "reduce-overhead did not run"}
        elif args.max_autotune == "auto" and need > budget.left():
            row["max_autotune"] = {"skipped": f"would not fit: its compile takes ~{need:.0f} s (issue 7: 283 s on "
                                              f"ResNet-50), {max(budget.left(), 0):.0f} s were left"}
        else:
            cmd = {"cmd": "run", "model": name, "precision": "fp16", "batch": 1, "mode": "compile",
                   "compile_mode": "max-autotune", "standin": args.dry_run, **settings["torch"]}
            row["max_autotune"] = _torch(worker, budget, cmd, "max_autotune", name, budget.left())
            print(f"suite: [{budget.elapsed():5.0f} s] {name} fp16 b1 max-autotune "
                  f"{_short(row['max_autotune'])}", flush=True)


def dryRunProblems(results) -> list:
    """Everything that must have worked in a dry run: exports, every measurement, the accuracy checks."""
    problems = [f"export {n}: {m.get('error') or m.get('export_error')}" for n, m in results["models"].items()
                if not m.get("exporter")]
    for r in results["rows"]:
        where = f"{r['workload']} {r['precision']} b{r['batch']}"
        for key in ("eager", "compile"):
            if not (r.get(key) or {}).get("ok"):
                problems.append(f"{where} {key}: {(r.get(key) or {}).get('error') or r.get(key)}")
        for step in ("build", "bench") + (("check",) if r["batch"] == 1 else ()):
            s = r["kiln"].get(step) or {}
            if not s.get("ok"):
                problems.append(f"{where} kiln {step}: {s.get('error') or s.get('skipped')}")
                break  # the later steps did not run
            if step == "check" and not s.get("within"):
                problems.append(f"{where} kiln check: {s['max_rel_err']:.2e} above {s['tolerance']:.0e}")
            peer = s.get("peer_error") or {}
            if step == "check" and r["precision"] != "fp32" and not (peer.get("ok") or peer.get("unavailable")):
                problems.append(f"{where}: no PyTorch {r['precision']} error, nor the reason it is unavailable")
        if r["kiln_tflops"] is None or r["ratios"]["kiln_vs_eager"] is None:
            problems.append(f"{where}: no Kiln TFLOP/s or ratio")
        if r["batch"] == 1 and r["precision"] == "fp16" and not (r.get("max_autotune") or {}).get("ok"):
            problems.append(f"{where} max-autotune: {r.get('max_autotune')}")
    return problems


def _times(name, prec, batch):
    return f"times.{name}.{prec}.b{batch}.json"


def _brief(d: dict, keys) -> str:
    return ", ".join(f"{k} {d[k]:.4g}" if isinstance(d.get(k), float) else f"{k} {d.get(k)}" for k in keys
                     if k in d) or (d.get("error") or "-")


def _short(r) -> str:
    if not r:
        return "-"
    if r.get("skipped"):
        return "skipped"
    if not r.get("ok"):
        return "FAILED: " + str(r.get("error"))[:160]
    return f"{r['median_ms']:.3f} ms ({r['items_per_s']:.1f} items/s)"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.SubprocessError as e:
        print(f"suite: error: {e}", file=sys.stderr)
        sys.exit(3)
