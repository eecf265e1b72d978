"""Statistics shared by the PyTorch and Kiln sides (no torch import): of a list of per-iteration times, and the
accuracy check's error measure."""

import math
import statistics

import numpy as np


def summarize(times_ms: list) -> dict:
    """median, mean, min, max, p10, p90, p99 (nearest rank), count of a list of times in ms."""
    s = sorted(times_ms)
    n = len(s)

    def rank(p):
        return s[min(n - 1, max(0, math.ceil(p / 100.0 * n) - 1))]

    return {"median_ms": statistics.median(s), "mean_ms": statistics.fmean(s), "min_ms": s[0], "max_ms": s[-1],
            "p10_ms": rank(10), "p90_ms": rank(90), "p99_ms": rank(99), "iterations": n,
            "cv": (statistics.pstdev(s) / statistics.fmean(s)) if n > 1 and statistics.fmean(s) > 0 else 0.0}


def maxRelErr(got, ref) -> float:
    """max|got - ref| / max|ref| in float64, the accuracy check's measure for Kiln and for PyTorch's own reduced
    precision alike; inf when `got` is not finite (an FP16 overflow). Raises ValueError when the shapes differ."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        raise ValueError(f"shape {got.shape}, reference {ref.shape}")
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-30))
