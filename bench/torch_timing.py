"""How the PyTorch side is timed, and the machine's two ceilings (matrix rate, copy bandwidth).

Each iteration is bracketed by CUDA events on the current stream and synchronized before the next starts, as
`kiln bench` runs one iteration at a time: the event time then holds whatever the GPU waited for the host (eager's
launch overhead at batch 1), which is what a caller sees. The host's wall time of each iteration is kept too.
On the CPU (the dry run) the wall clock alone is used.
"""

import statistics
import time

import torch

from bench_stats import summarize


def timeCalls(fn, device: str, warmup_s: float, min_iters: int, target_s: float, max_iters: int,
              warmup_min_iters: int = 3) -> dict:
    """Warms `fn` up (at least `warmup_min_iters` calls and `warmup_s` seconds), then times at least `min_iters`
    calls, more up to `max_iters` while the total stays under `target_s`. Returns summarize() of the device times
    plus the host times and the raw list."""
    cuda = device.startswith("cuda")
    t0 = time.perf_counter()
    warm = 0
    while warm < warmup_min_iters or time.perf_counter() - t0 < warmup_s:
        fn()
        if cuda:
            torch.cuda.synchronize()
        warm += 1
    per_call = (time.perf_counter() - t0) / warm
    iters = max(min_iters, min(max_iters, int(target_s / max(per_call, 1e-6))))
    device_ms, host_ms = [], []
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(iters):
        h0 = time.perf_counter()
        if cuda:
            start.record()
        fn()
        if cuda:
            end.record()
            end.synchronize()
            device_ms.append(start.elapsed_time(end))
        host_ms.append((time.perf_counter() - h0) * 1e3)
    out = summarize(device_ms if cuda else host_ms)
    out["clock"] = "cuda events, synchronized each iteration" if cuda else "host wall clock"
    out["host_median_ms"] = statistics.median(host_ms)
    out["warmup_iterations"] = warm
    out["times_ms"] = [round(t, 5) for t in (device_ms if cuda else host_ms)]
    return out


def matmulCeiling(device: str, n: int, iters: int) -> dict:
    """TFLOP/s of an n x n x n matrix product on random data in FP16, TF32 and FP32 (median of `iters` after three
    warm-ups), and the device-to-device copy bandwidth counting bytes read plus written. On the CPU (dry run) only
    FP32 is measured and stands in for the others."""
    out = {"matmul_n": n, "device": device}
    cuda = device.startswith("cuda")
    kinds = [("fp16", torch.float16, True), ("tf32", torch.float32, True), ("fp32", torch.float32, False)]
    if not cuda:
        kinds = [("fp32", torch.float32, False)]
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        for name, dtype, tf32 in kinds:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            g = torch.Generator(device=device).manual_seed(0)
            a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
            b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
            r = timeCalls(lambda: torch.matmul(a, b), device, 0.0, iters, 0.0, iters)
            out[f"{name}_tflops"] = 2.0 * n ** 3 / (r["median_ms"] * 1e-3) / 1e12
            a = b = None  # frees the memory before the next precision
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    if not cuda:
        out["fp16_tflops"] = out["tf32_tflops"] = out["fp32_tflops"]
        out["note"] = "cpu dry run: fp32 stands in for every precision"
        return out
    src = torch.empty(1 << 28, dtype=torch.float32, device=device).uniform_()  # 1 GiB
    dst = torch.empty_like(src)
    r = timeCalls(lambda: dst.copy_(src), device, 0.0, 20, 0.0, 20)
    out["copy_tbps"] = 2 * src.numel() * 4 / (r["median_ms"] * 1e-3) / 1e12
    return out
