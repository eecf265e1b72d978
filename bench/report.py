"""The suite's results: derived figures (ratios, TFLOP/s, share of the ceiling), the printed table and the JSON."""

import json
import os

PRECISION_ORDER = {"fp32": 0, "tf32": 1, "fp16": 2}
# Kiln's error above its bound but within this factor of PyTorch's own error at the same precision reads "as torch":
# the model is ill-conditioned at that precision, rather than Kiln worse than its peer.
AS_PEER_FACTOR = 2.0


def itemsPerS(result):
    """items/s of a measurement, None when it did not run or failed."""
    if not result or not result.get("ok") or not result.get("items_per_s"):
        return None
    return result["items_per_s"]


def derive(row: dict, ceilings: dict) -> None:
    """Adds the ratios (Kiln's throughput over each peer's: > 1 means Kiln is faster), Kiln's TFLOP/s and its share
    of the measured FP16 matmul ceiling."""
    kiln = itemsPerS(row["kiln"].get("bench"))
    ratios = {}
    for peer in ("eager", "compile", "max_autotune"):
        theirs = itemsPerS(row.get(peer))
        ratios[f"kiln_vs_{peer}"] = kiln / theirs if kiln and theirs else None
    row["ratios"] = ratios
    flops = row.get("flops_per_item")
    row["kiln_tflops"] = kiln * flops / 1e12 if kiln and flops else None
    ceiling = ceilings.get("fp16_tflops")
    row["kiln_fp16_ceiling_fraction"] = row["kiln_tflops"] / ceiling if row["kiln_tflops"] and ceiling else None
    own = ceilings.get(f"{row['precision']}_tflops")
    row["kiln_own_precision_ceiling_fraction"] = row["kiln_tflops"] / own if row["kiln_tflops"] and own else None


def _cell(result, batch: int) -> str:
    if result is None:
        return "-"
    if result.get("skipped"):
        return "skip"
    if not result.get("ok"):
        return "timeout" if result.get("timed_out") else "FAIL"
    if batch == 1:
        return f"{result['median_ms']:.3f} ms"
    v = result["items_per_s"]
    return f"{v / 1000:.2f}k/s" if v >= 1000 else f"{v:.1f}/s"


def _num(v, fmt, suffix=""):
    return "-" if v is None else format(v, fmt) + suffix


def _tflops(v) -> str:
    return "-" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.3g}"


def _wholeSkip(row: dict):
    """The reason when the whole row was skipped (no model, out of time), else None."""
    why = (row.get("eager") or {}).get("skipped")
    return why if why and why == (row["kiln"].get("build") or {}).get("skipped") else None


def _notes(row: dict) -> list:
    """One line for each failure or skip in the row."""
    out = []
    where = f"{row['workload']} {row['precision']} b{row['batch']}"
    if _wholeSkip(row):
        return out  # one line for all such rows, under the table
    for key, label in (("eager", "eager"), ("compile", "torch.compile"), ("max_autotune", "max-autotune")):
        r = row.get(key)
        if r and (r.get("skipped") or not r.get("ok")):
            if key == "max_autotune" and r.get("skipped") or str(r.get("skipped")).startswith("--"):
                continue  # chosen on the command line, or max-autotune's: summarized once under the table
            out.append(f"  [{where}] {label}: {r.get('skipped') or r.get('error')}")
    for step in ("build", "bench", "check"):
        r = row["kiln"].get(step)
        if r and (r.get("skipped") or not r.get("ok")):
            out.append(f"  [{where}] kiln {step}: {r.get('skipped') or r.get('error')}")
    peer = (row["kiln"].get("check") or {}).get("peer_error") or {}
    if peer.get("unavailable"):
        out.append(f"  [{where}] torch {row['precision']} error: unavailable: {peer['unavailable']}")
    for w in (row["kiln"].get("bench") or {}).get("warnings") or []:
        out.append(f"  [{where}] kiln bench: {w}")
    return out


def table(results: dict) -> str:
    rows = sorted(results["rows"], key=lambda r: (results["model_order"].index(r["workload"]),
                                                  PRECISION_ORDER[r["precision"]], r["batch"]))
    env, ceil = results["environment"], results["ceilings"]
    lines = [f"== Kiln vs PyTorch ({results['mode']}) on {env.get('gpu', env.get('device'))}: torch {env.get('torch')}"
             f", cuDNN {env.get('cudnn', '-')}; FP16 matmul ceiling {_num(ceil.get('fp16_tflops'), '.1f')} TFLOP/s, "
             f"TF32 {_num(ceil.get('tf32_tflops'), '.1f')}, FP32 {_num(ceil.get('fp32_tflops'), '.1f')}; "
             f"copy {_num(ceil.get('copy_tbps'), '.2f')} TB/s",
             "   batch 1: median latency; larger batches: items/s (batch / median). K/x = Kiln's throughput over x's "
             "(> 1: Kiln faster). ceil = Kiln TFLOP/s over the FP16 matmul ceiling.",
             "   PyTorch: eager and torch.compile (reduce-overhead), channels_last, FP16 = .half(); Kiln: kiln bench "
             "--cuda-graph --no-data-transfers --spin-wait."]
    showMa = any(r.get("max_autotune") and not r["max_autotune"].get("skipped") for r in rows)
    head = f"{'workload':<9} {'prec':<5} {'batch':>5} {'eager':>11} {'compile':>11} {'cmp s':>6} "
    head += f"{'max-autot.':>11} " if showMa else ""
    head += f"{'Kiln':>11} {'K/compile':>9} {'K/eager':>8} {'TFLOP/s':>8} {'ceil':>6} {'build s':>8}"
    lines += [head, "-" * len(head)]
    notes = []
    for r in rows:
        b = r["batch"]
        comp = r.get("compile") or {}
        line = f"{r['workload']:<9} {r['precision']:<5} {b:>5} {_cell(r.get('eager'), b):>11} {_cell(comp, b):>11} "
        line += f"{_num(comp.get('compile_s'), '.1f'):>6} "
        if showMa:
            line += f"{_cell(r.get('max_autotune'), b):>11} "
        ratio = r.get("ratios", {})
        line += f"{_cell(r['kiln'].get('bench'), b):>11} {_num(ratio.get('kiln_vs_compile'), '.2f', suffix='x'):>9} "
        line += f"{_num(ratio.get('kiln_vs_eager'), '.2f', suffix='x'):>8} {_tflops(r.get('kiln_tflops')):>8} "
        frac = r.get("kiln_fp16_ceiling_fraction")
        line += f"{_num(None if frac is None else 100 * frac, '.1f', suffix='%'):>6} "
        line += f"{_num((r['kiln'].get('build') or {}).get('seconds'), '.1f'):>8}"
        lines.append(line)
        notes += _notes(r)
    whole = {}
    for r in rows:
        if _wholeSkip(r):
            whole.setdefault(_wholeSkip(r), []).append(f"{r['workload']} {r['precision']} b{r['batch']}")
    notes += [f"  not run ({len(where)}): {why}: {', '.join(where)}" for why, where in whole.items()]
    lines += _footer(results, rows)
    if notes:
        lines += ["failures and skips:"] + notes
    return "\n".join(lines)


def _footer(results: dict, rows: list) -> list:
    out = []
    checks = [(r, r["kiln"]["check"]) for r in rows if r["kiln"].get("check")]
    if checks:
        legend = ""
        if any(c.get("peer_error") for _, c in checks):  # result files from before the peer's error: as they were
            legend = (f" (torch P: PyTorch's own error at precision P on the same input; 'as torch': above the bound "
                      f"but within {AS_PEER_FACTOR:g}x of it)")
        out.append(f"accuracy, Kiln vs PyTorch FP32 (TF32 off) at batch 1, max|diff|/max|ref|{legend}: "
                   + "; ".join(_accuracy(r, c) for r, c in checks))
    warm = [(r, r["kiln"]["build_warm"]) for r in rows if r["kiln"].get("build_warm")]
    for r, w in warm:
        out.append(f"build {r['workload']} {r['precision']} b{r['batch']}: cold {r['kiln']['build']['seconds']:.1f} s"
                   f", rebuilt with the timing cache {_num(w.get('seconds'), '.1f')} s"
                   + ("" if w.get("ok") else f" (FAIL: {w.get('error')})"))
    clocks = [_clocks(r) for r in rows]
    if any(clocks):
        out.append("GPU while each side ran (nvidia-smi, 100 ms samples: median SM clock, highest power / the limit): "
                   + "; ".join(c for c in clocks if c))
    ma = sorted({r["max_autotune"]["skipped"] for r in rows if (r.get("max_autotune") or {}).get("skipped")})
    for reason in ma:
        out.append(f"max-autotune: skipped: {reason}")
    chosen = [r["compile"]["skipped"] for r in rows if str((r.get("compile") or {}).get("skipped")).startswith("--")]
    for reason in sorted(set(chosen)):
        out.append(f"torch.compile: skipped on {chosen.count(reason)} rows: {reason}")
    exp = ", ".join(f"{name} {m.get('exporter') or 'FAILED'} opset {m.get('opset', '-')}"
                    for name, m in results["models"].items())
    out.append(f"ONNX export: {exp}")
    b = results["budget"]
    out.append(f"time: {b['elapsed_s']:.0f} s of a {b['budget_s']:.0f} s budget; worker starts {b['worker_starts']}")
    return out


def _clocks(row: dict) -> str:
    """'unet fp16 b16: eager 1.92 GHz 610/700 W, Kiln 1.71 GHz 700/700 W' from the samplers' summaries, or ''."""
    sides = []
    for side, result in (("eager", row.get("eager")), ("Kiln", (row.get("kiln") or {}).get("bench"))):
        c = (result or {}).get("gpu_clocks") or {}
        if c.get("sm_mhz_median"):
            power = f" {c['power_w_max']:.0f}/{c.get('power_limit_w', 0):.0f} W" if c.get("power_w_max") else ""
            sides.append(f"{side} {c['sm_mhz_median'] / 1e3:.2f} GHz{power}")
    return f"{row['workload']} {row['precision']} b{row['batch']}: " + ", ".join(sides) if sides else ""


def _accuracy(row: dict, check: dict) -> str:
    """One row's accuracy: Kiln's error, PyTorch's own at that precision where the run measured it, the verdict."""
    where = f"{row['workload']} {row['precision']}"
    if not check.get("ok"):
        return f"{where} {'skipped' if check.get('skipped') else 'FAIL'}"
    verdict = f"{'ok' if check['within'] else 'ABOVE'} {check['tolerance']:.0e}"
    peer = check.get("peer_error")
    if not peer:
        return f"{where} {check['max_rel_err']:.1e} ({verdict})"
    theirs = peer.get("max_rel_err") if peer.get("ok") else None
    if not check["within"] and theirs is not None and check["max_rel_err"] <= AS_PEER_FACTOR * theirs:
        verdict += ", as torch"
    return (f"{where} {check['max_rel_err']:.1e} (torch {row['precision']} "
            f"{'n/a' if theirs is None else format(theirs, '.1e')}; {verdict})")


def writeResults(results: dict, tableText: str, resultsDir: str, outDir: str) -> list:
    """bench/results/<timestamp>.json, and with $OUT set, the JSON and the table there as well."""
    name = results["timestamp"]
    written = []
    for d in filter(None, [resultsDir, outDir]):
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"{name}.json")
        with open(path, "w") as f:
            json.dump(results, f, indent=1, default=str)
        written.append(path)
    if outDir:
        path = os.path.join(outDir, f"{name}.txt")
        with open(path, "w") as f:
            f.write(tableText + "\n")
        written.append(path)
    return written
