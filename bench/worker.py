"""The PyTorch side of the suite, in its own process so that suite.py can bound every step's time (a compile that
runs over its limit is killed with the process group) and start a fresh one for what is left.

Protocol: one JSON object a line on stdin ({"cmd": ...}); each answer is one line on stdout starting with MARK
(anything else on stdout, e.g. from the compilers, is logged by suite.py and ignored). Commands:
  info                          torch/CUDA/cuDNN versions, the GPU
  ceiling n iters               matmul TFLOP/s (FP16, TF32, FP32) and copy TB/s
  export model path exporter    the ONNX file, the reference input/output of the accuracy check, PyTorch's own
                                error at each reduced precision on that input, FLOPs per item
  run model precision batch mode [compile_mode]   eager or torch.compile timing (torch_timing.timeCalls)
  quit
Every answer has "ok"; a failure has "error" (one line) and the process goes on.
"""

import copy
import gc
import inspect
import json
import os
import sys
import time
import traceback

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import workloads  # noqa: E402
from bench_stats import maxRelErr  # noqa: E402
from torch_timing import matmulCeiling, timeCalls  # noqa: E402

MARK = "@@kiln-bench@@ "


def oneLine(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:400]}" if text else type(e).__name__


class Worker:
    def __init__(self, scale: str, seed: int, device: str, work: str):
        self.specs = workloads.specs(scale)
        self.seed = seed
        self.device = device
        self.work = work
        self.cpuModels = {}  # name -> FP32 eval model on the CPU, the weights that were exported

    # -------------------------------------------------------------------------------------------------- commands
    def info(self, cmd):
        out = {"torch": torch.__version__, "python": sys.version.split()[0], "device": self.device,
               "has_compile": hasattr(torch, "compile"),
               "has_sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention")}
        try:
            import torchvision
            out["torchvision"] = torchvision.__version__
        except ImportError:
            out["torchvision"] = None
        if self.device.startswith("cuda"):
            p = torch.cuda.get_device_properties(0)
            out.update({"gpu": p.name, "sm_count": p.multi_processor_count, "gpu_memory_gib": p.total_memory / 2**30,
                        "capability": f"{p.major}.{p.minor}", "cuda": torch.version.cuda,
                        "cudnn": torch.backends.cudnn.version()})
        return out

    def ceiling(self, cmd):
        return matmulCeiling(self.device, int(cmd["n"]), int(cmd["iters"]))

    def model(self, name):
        """The exported weights: kept from the export, or loaded from the state dict it saved (after a restart)."""
        if name not in self.cpuModels:
            spec = self.specs[name]
            state = os.path.join(self.work, f"{name}.pt")
            model, _ = models.build(spec, self.seed, "cpu", calibrate=not os.path.exists(state))
            if os.path.exists(state):
                model.load_state_dict(torch.load(state))
            self.cpuModels[name] = model.eval()
        return self.cpuModels[name]

    def export(self, cmd):
        spec = self.specs[cmd["model"]]
        t0 = time.perf_counter()
        model, which = models.build(spec, self.seed, self.device)
        torch.save(model.state_dict(), os.path.join(self.work, f"{spec.name}.pt"))
        self.cpuModels[spec.name] = model
        out = {"architecture": which, "build_s": time.perf_counter() - t0,
               "params": sum(p.numel() for p in model.parameters())}
        out.update(self._reference(model, spec))
        # No exporter working is a result, not a failure of the command: PyTorch's rows still run.
        out.update(self._exportOnnx(model, spec, cmd["path"], cmd.get("exporter", "auto"), int(cmd["opset"])))
        return out

    def _exportOnnx(self, model, spec, path, exporter, opset):
        """TorchScript's exporter first (dynamo=False: opset 17 as asked, no onnxscript needed), then the dynamo
        exporter (torch >= 2.5, needs onnxscript). Each attempt's outcome is recorded."""
        x = models.makeInput(spec, 2, self.seed)  # batch 2: a batch of 1 can be specialized away by torch.export
        has_dynamo_arg = "dynamo" in inspect.signature(torch.onnx.export).parameters
        # The dynamo exporter's own opset is 18 (torchlib); asked for 17 it converts down and may fail doing so: then
        # it is tried at 18, and a Kiln that takes opsets up to 17 says so in the table.
        dynamo = [("dynamo", opset)] + ([("dynamo", 18)] if opset < 18 else [])
        order = {"auto": [("torchscript", opset)] + dynamo, "torchscript": [("torchscript", opset)],
                 "dynamo": dynamo}[exporter]
        attempts = []
        names = dict(input_names=[spec.inputName], output_names=spec.outputNames)
        for kind, version in order:
            t0 = time.perf_counter()
            try:
                if os.path.exists(path):
                    os.remove(path)
                if kind == "torchscript":
                    extra = {"dynamo": False} if has_dynamo_arg else {}
                    axes = {n: {0: "batch"} for n in [spec.inputName] + spec.outputNames}
                    torch.onnx.export(model, (x,), path, opset_version=version, dynamic_axes=axes,
                                      do_constant_folding=True, **names, **extra)
                else:
                    if not has_dynamo_arg:
                        raise RuntimeError(f"torch {torch.__version__} has no dynamo exporter (torch.onnx.export "
                                           "without a dynamo argument)")
                    batch = torch.export.Dim("batch", min=1, max=4096)
                    torch.onnx.export(model, (x,), path, dynamo=True, opset_version=version,
                                      dynamic_shapes=({0: batch},), external_data=False, **names)
                if not os.path.exists(path):
                    raise RuntimeError(f"the exporter returned without writing {path}")
                attempts.append({"exporter": kind, "opset": version, "ok": True, "seconds": time.perf_counter() - t0})
                return {"exporter": kind, "attempts": attempts, "export_s": time.perf_counter() - t0,
                        "bytes": os.path.getsize(path), "opset": self._opsetOf(path)}
            except Exception as e:  # each exporter fails in its own ways: record, try the next
                attempts.append({"exporter": kind, "opset": version, "ok": False, "seconds": time.perf_counter() - t0,
                                 "error": oneLine(e)})
        return {"exporter": None, "attempts": attempts,
                "export_error": "; ".join(f"{a['exporter']} (opset {a['opset']}): {a['error']}" for a in attempts)}

    @staticmethod
    def _opsetOf(path):
        try:
            import onnx
            m = onnx.load(path, load_external_data=False)
            return max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=None)
        except Exception as e:
            return f"unread ({oneLine(e)})"

    def _reference(self, model, spec):
        """The accuracy check's data: a batch-1 input and the FP32 outputs (TF32 off) of the exported weights, as
        .npy files next to the model, and PyTorch's own error at the workload's reduced precisions on that input;
        also the FLOPs per item, counted on the same run."""
        x = models.makeInput(spec, 1, self.seed + 7)
        m = copy.deepcopy(model).to(self.device)
        with _precision("fp32"):
            y, flops = models.countFlops(m, x.to(self.device))
        ys = y if isinstance(y, (tuple, list)) else [y]
        files = {"input": os.path.join(self.work, f"{spec.name}.check_input.npy"), "outputs": {}}
        np.save(files["input"], x.numpy())
        refs = [t.float().cpu().numpy() for t in ys]
        for name, ref in zip(spec.outputNames, refs):
            files["outputs"][name] = os.path.join(self.work, f"{spec.name}.check_{name}.npy")
            np.save(files["outputs"][name], ref)
        del m, y, ys
        _release()
        files["peer_errors"] = self._peerErrors(model, spec, x, refs)
        return {"flops_per_item": flops, "check": files}

    def _peerErrors(self, model, spec, x, refs):
        """{precision: PyTorch's own error} for each reduced precision of the workload: its timed setup (_prepared:
        .half() and channels_last for FP16, TF32 on) on the reference input, against the FP32 reference, measured
        as Kiln's is. Kiln's error above its bound means little on a model that is ill-conditioned at that precision
        for anyone; this says whether it is. What cannot run here (TF32 off a GPU; FP16 convolutions, matmuls and
        LayerNorm, which the CPU lacks in torch 1.13) is recorded as unavailable with the reason."""
        out = {}
        for prec in spec.precisions:
            if prec == "fp32":
                continue  # the reference itself
            if prec == "tf32" and not self.device.startswith("cuda"):
                out[prec] = {"ok": False, "unavailable": f"TF32 is a CUDA mode: on the {self.device}, a TF32 run is "
                                                         "the FP32 reference itself"}
                continue
            try:
                m, xi, setup = self._prepared(model, spec, prec, x, standin=False)
                with _precision(prec), torch.no_grad():
                    y = m(xi)
                ys = y if isinstance(y, (tuple, list)) else [y]
                if len(ys) != len(refs):
                    raise ValueError(f"{len(ys)} outputs, the reference has {len(refs)}")
                errors = {}
                for name, t, ref in zip(spec.outputNames, ys, refs):
                    try:
                        errors[name] = maxRelErr(t.float().cpu().numpy(), ref)
                    except ValueError as e:
                        raise ValueError(f"output '{name}': {e}") from None
                out[prec] = {"ok": True, "setup": setup, "outputs": errors, "max_rel_err": max(errors.values())}
            except Exception as e:  # an op without a kernel at this dtype on this device: a result, not a failure
                out[prec] = {"ok": False, "unavailable": f"torch {torch.__version__} on {self.device}: {oneLine(e)}"}
            finally:
                m = xi = y = ys = None
                _release()
        return out

    def _prepared(self, base, spec, precision, x, standin=True):
        """(model, input, description) as PyTorch runs at `precision`: a copy of `base` on the device, FP16 as
        .half() of weights and inputs, images channels_last on the GPU (cuDNN's fast NHWC kernels, as in the issue's
        figures), BERT on scaled_dot_product_attention where torch has it. The TF32 flags are the caller's
        (_precision). The CPU has no FP16 convolutions or LayerNorm in torch 1.13: with `standin` the dry run's
        "fp16" runs in FP32 there."""
        m = copy.deepcopy(base)
        if spec.name == "bert" and hasattr(torch.nn.functional, "scaled_dot_product_attention"):
            m.setSdpa(True)
        cuda = self.device.startswith("cuda")
        dtype = torch.float16 if precision == "fp16" and (cuda or not standin) else torch.float32
        m = m.to(self.device, dtype)
        x = x.to(self.device)
        if spec.inputKind == "image":
            x = x.to(dtype)
            if cuda:
                m = m.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
        setup = ({torch.float16: ".half() of weights and inputs", torch.float32: "float32"}[dtype]
                 + ("" if precision == "fp16" else ", TF32 " + ("on" if precision == "tf32" else "off"))
                 + ("" if dtype == torch.float16 or precision != "fp16" else " (cpu stand-in for fp16)"))
        return m, x, setup

    def run(self, cmd):
        spec = self.specs[cmd["model"]]
        precision, batch, mode = cmd["precision"], int(cmd["batch"]), cmd["mode"]
        m, x, setup = self._prepared(self.model(spec.name), spec, precision,
                                     models.makeInput(spec, batch, self.seed + batch))
        out = {"precision_setup": setup}
        fn = None
        try:
            with _precision(precision), torch.no_grad():
                if mode == "eager":
                    fn = lambda: m(x)  # noqa: E731
                else:
                    fn, out["compiler"] = self._compiled(m, x, cmd["compile_mode"], bool(cmd.get("standin")))
                    # The first calls compile (and, with CUDA graphs, record the graph): compile time = until the
                    # third call returned.
                    t0 = time.perf_counter()
                    for _ in range(3):
                        fn()
                        _sync(self.device)
                    out["compile_s"] = time.perf_counter() - t0
                out.update(timeCalls(fn, self.device, float(cmd["warmup_s"]), int(cmd["min_iters"]),
                                     float(cmd["target_s"]), int(cmd["max_iters"]), int(cmd["warmup_min_iters"])))
        finally:
            fn = None  # drops the compiled model (and its CUDA-graph memory) before the memory is released
            m = x = None
            if mode != "eager" and hasattr(torch, "_dynamo"):
                torch._dynamo.reset()
            _release()
        out["items_per_s"] = batch * 1e3 / out["median_ms"]
        return out

    @staticmethod
    def _compiled(m, x, compileMode, standin):
        """(callable, description) of the compiled model."""
        if hasattr(torch, "compile"):
            compiled = torch.compile(m, mode=compileMode, dynamic=False)
            step = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

            def fn():
                if step is not None:
                    step()  # a new step for the CUDA-graph trees: the last outputs may be overwritten
                return compiled(x)

            return fn, f"torch.compile(mode={compileMode!r}, dynamic=False)"
        if not standin:
            raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
        # torch < 2.0 (the dry run on Debian's torch 1.13): TorchScript trace + freeze stands in so that the compile
        # phase's timing, limits and reporting run end to end. Never used on the GPU machine.
        compiled = torch.jit.freeze(torch.jit.trace(m, (x,)))
        return (lambda: compiled(x)), "torch.jit.trace + freeze (dry-run stand-in: this torch has no torch.compile)"


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class _precision:
    """TF32 flags for a run: off for fp32, on otherwise (FP16 runs use .half() weights and inputs)."""

    def __init__(self, precision):
        self.on = precision != "fp32"

    def __enter__(self):
        self.saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = self.on
        torch.backends.cudnn.allow_tf32 = self.on

    def __exit__(self, *a):
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.saved


def _release():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main():
    scale, seed, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True  # the best algorithm per shape, as a user tuning eager would
    w = Worker(scale, seed, device, work)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        try:
            reply = {"ok": True, **getattr(w, cmd["cmd"])(cmd)}
        except Exception as e:
            traceback.print_exc()
            reply = {"ok": False, "error": oneLine(e)}
            _release()
        sys.stdout.write(MARK + json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
