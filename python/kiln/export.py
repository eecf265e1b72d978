"""PyTorch -> ONNX -> Kiln, checked: ``python -m kiln.export`` and the functions behind it.

Exports a model with ``torch.onnx.export`` (a dummy image batch, input/output names, optional dynamic batch axis,
opset, constant folding), builds the ONNX file in Kiln and compares Kiln's outputs with PyTorch's on the same input:
the seed's "compare with the pre-deployment results". The error of an output is reported as

    max abs = max |kiln - torch|        max rel = max |kiln - torch| / max |torch|

(the second is the norm-wise relative error Kiln's model tests use) and the check passes when every output's max rel
is within the tolerance (1e-4 for FP32).

    python -m kiln.export resnet50 --batch 8 --dynamic-batch -o resnet50.onnx

From Python::

    from kiln.export import export_and_check
    report = export_and_check(my_model, "model.onnx", batch=4, image_size=224, dynamic_batch=True)
    assert report.passed

torch 1.13 exports up to opset 17. Export runs with gradients enabled (torch 1.13 exports transformer layers only
then); the PyTorch reference runs under torch.no_grad() in eval mode.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

import kiln

DEFAULT_OPSET = 17  # the newest opset torch 1.13's exporter supports
DEFAULT_RTOL = 1e-4


@dataclasses.dataclass
class OutputError:
    """How far one of Kiln's outputs is from PyTorch's."""

    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    passed: bool


@dataclasses.dataclass
class Check:
    """The comparison at one batch size."""

    batch: int
    outputs: list[OutputError]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)


@dataclasses.dataclass
class Report:
    """What export_and_check did: the ONNX file, the engine and the checks (one per batch size tried)."""

    onnx_path: Path
    engine: Optional[kiln.Engine]
    checks: list[Check]
    rtol: float

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


def torchvision_model(name: str, weights: Optional[str] = None):
    """torchvision.models.<name> with random weights, or the state dict in the file `weights`."""
    import torch
    import torchvision

    factory = getattr(torchvision.models, name, None)
    if not callable(factory) or name.startswith("_"):
        raise ValueError(f"'{name}' is not a torchvision model (e.g. resnet18, resnet50, mobilenet_v3_small)")
    model = factory(weights=None)
    if weights:
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    return model


def resolve_model(spec: str, weights: Optional[str] = None):
    """A model from a torchvision name ("resnet50") or "package.module:factory" (a callable that returns one)."""
    if ":" not in spec:
        return torchvision_model(spec, weights)
    module_name, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(module_name), attr)
    model = obj() if callable(obj) and not hasattr(obj, "forward") else obj
    if weights:
        import torch

        model.load_state_dict(torch.load(weights, map_location="cpu"))
    return model


def _flatten(outputs: Any) -> list:
    """Model outputs as a flat list of tensors, in the order torch.onnx.export writes them."""
    import torch

    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    flat = []
    for o in outputs:
        flat.extend(_flatten(o))
    return flat


def dummy_input(batch: int, image_size: int, channels: int = 3, seed: int = 0):
    """A reproducible float32 image batch [batch, channels, size, size], standard normal."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, image_size, image_size, generator=generator)


def export(
    model,
    path,
    *,
    batch: int = 1,
    image_size: int = 224,
    channels: int = 3,
    example=None,
    input_names: Sequence[str] = ("input",),
    output_names: Optional[Sequence[str]] = None,
    dynamic_batch: bool = False,
    opset: int = DEFAULT_OPSET,
    constant_folding: bool = True,
) -> Path:
    """torch.onnx.export of `model` (put in eval mode) on `example` (default: dummy_input(batch, image_size,
    channels)). Output names default to "output", or output_0, output_1, ... for several outputs. With
    dynamic_batch, dim 0 of every input and output is the symbolic "batch"."""
    import torch

    model.eval()
    if example is None:
        example = dummy_input(batch, image_size, channels)
    with torch.no_grad():
        n_outputs = len(_flatten(model(example)))
    if output_names is None:
        output_names = ["output"] if n_outputs == 1 else [f"output_{i}" for i in range(n_outputs)]
    if len(output_names) != n_outputs:
        raise ValueError(f"the model has {n_outputs} outputs, {len(output_names)} output names were given")
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: "batch"} for name in [*input_names, *output_names]}
    path = Path(path)
    # Gradients stay enabled: torch 1.13 exports transformer layers only then.
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_axes=dynamic_axes,
        opset_version=opset,
        do_constant_folding=constant_folding,
    )
    return path


def build(
    onnx_path,
    *,
    profile_batches: Optional[tuple[int, int, int]] = None,
    logger: Optional[kiln.ILogger] = None,
    engine_path=None,
    backend: kiln.Backend = kiln.Backend.AUTO,
    tf32: bool = False,
) -> kiln.Engine:
    """Builds the ONNX file in Kiln. With profile_batches = (min, opt, max), every input with a dynamic dim 0 gets
    a profile over those batch sizes (other dims as in the model; they must be static). TF32 (allowed by default in
    a BuilderConfig, as in TensorRT) is cleared unless tf32=True, so the check compares FP32 math. The engine is
    built as bytes, saved to engine_path when given, and loaded with Runtime.deserialize_cuda_engine."""
    logger = logger or kiln.Logger(kiln.Logger.WARNING)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    kiln.OnnxParser(network, logger).parse_from_file(onnx_path)
    config = builder.create_builder_config()
    config.backend = backend
    if not tf32:
        config.clear_flag(kiln.BuilderFlag.TF32)
    if profile_batches is not None:
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            if tensor.shape and tensor.shape[0] < 0:
                rest = tuple(tensor.shape[1:])
                if any(d < 0 for d in rest):
                    raise ValueError(f"input '{tensor.name}' {tensor.shape} has dynamic dims besides the batch")
                profile.set_shape(tensor.name, *[(b, *rest) for b in profile_batches])
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if engine_path is not None:
        Path(engine_path).write_bytes(serialized)
    return kiln.Runtime(logger).deserialize_cuda_engine(serialized)


def compare(engine: kiln.Engine, model, example, rtol: float = DEFAULT_RTOL) -> Check:
    """Runs `example` (a torch tensor) through the engine and the model and measures each output's error."""
    import torch

    model.eval()
    with torch.no_grad():
        expected = [t.numpy() for t in _flatten(model(example))]
    names = [
        engine.get_tensor_name(i)
        for i in range(engine.num_io_tensors)
        if engine.get_tensor_mode(engine.get_tensor_name(i)) == kiln.TensorIOMode.OUTPUT
    ]
    input_name = next(
        engine.get_tensor_name(i)
        for i in range(engine.num_io_tensors)
        if engine.get_tensor_mode(engine.get_tensor_name(i)) == kiln.TensorIOMode.INPUT
    )
    got = engine.create_execution_context().infer({input_name: example.numpy()})
    errors = []
    for name, want in zip(names, expected):
        have = got[name]
        if have.shape != want.shape:
            errors.append(OutputError(name, have.shape, float("inf"), float("inf"), False))
            continue
        diff = np.abs(have.astype(np.float64) - want.astype(np.float64))
        max_abs = float(diff.max()) if diff.size else 0.0
        scale = float(np.abs(want).max()) if want.size else 0.0
        max_rel = max_abs / scale if scale > 0 else max_abs
        errors.append(OutputError(name, have.shape, max_abs, max_rel, bool(max_rel <= rtol)))
    return Check(int(example.shape[0]), errors)


def export_and_check(
    model,
    onnx_path,
    *,
    batch: int = 1,
    image_size: int = 224,
    channels: int = 3,
    dynamic_batch: bool = False,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
    engine_path=None,
    logger: Optional[kiln.ILogger] = None,
    backend: kiln.Backend = kiln.Backend.AUTO,
    tf32: bool = False,
    progress: Callable[[str], None] = lambda line: None,
    **export_options,
) -> Report:
    """export() then build() then compare() at `batch` and, with a dynamic batch, also at batch 1 (the profile is
    1..batch..2*batch). `progress` receives one line per step."""
    example = dummy_input(batch, image_size, channels, seed)
    start = time.perf_counter()
    path = export(model, onnx_path, example=example, dynamic_batch=dynamic_batch, **export_options)
    progress(
        f"exported to {path}: opset {export_options.get('opset', DEFAULT_OPSET)}, input "
        f"[{'batch' if dynamic_batch else batch}x{channels}x{image_size}x{image_size}] "
        f"({time.perf_counter() - start:.1f} s)"
    )
    start = time.perf_counter()
    profile = (1, batch, 2 * batch) if dynamic_batch else None
    engine = build(path, profile_batches=profile, logger=logger, engine_path=engine_path, backend=backend, tf32=tf32)
    where = f", saved to {engine_path}" if engine_path else ""
    shape = f"profile batch {profile[0]}..{profile[1]}..{profile[2]}" if profile else "static shapes"
    progress(f"built in Kiln: {shape}{where} ({time.perf_counter() - start:.1f} s)")
    checks = []
    for b in [batch, 1] if dynamic_batch and batch != 1 else [batch]:
        start = time.perf_counter()
        check = compare(engine, model, example[:b], rtol)
        checks.append(check)
        for o in check.outputs:
            verdict = "PASS" if o.passed else "FAIL"
            progress(
                f"batch {b}: output '{o.name}' {list(o.shape)}: max abs error {o.max_abs:.3g}, max rel error "
                f"{o.max_rel:.3g} (tolerance {rtol:g}): {verdict} ({time.perf_counter() - start:.1f} s)"
            )
    return Report(path, engine, checks, rtol)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kiln.export",
        description="Export a PyTorch model to ONNX (torch.onnx.export), build it in Kiln and check that Kiln's "
        "outputs match PyTorch's on the same input (max |kiln - torch| / max |torch| <= --rtol). Exit status: 0 "
        "when they match, 1 when not, 2 when the export or build fails.",
    )
    parser.add_argument("model", help="torchvision model name (resnet50, resnet18, ...) or package.module:factory")
    parser.add_argument("-o", "--output", help="ONNX file to write (default: <model>.onnx)")
    parser.add_argument("--batch", type=int, default=1, help="batch size of the dummy input (default 1)")
    parser.add_argument("--image-size", type=int, default=224, help="height and width of the dummy input")
    parser.add_argument("--channels", type=int, default=3, help="channels of the dummy input (default 3)")
    parser.add_argument("--dynamic-batch", action="store_true",
                        help="make dim 0 dynamic; Kiln builds a profile 1..batch..2*batch and checks batch and 1")
    parser.add_argument("--input-name", default="input", help="ONNX input name (default input)")
    parser.add_argument("--output-name", action="append", dest="output_names",
                        help="ONNX output name; repeat for several outputs (default output, output_0...)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--no-constant-folding", action="store_true", help="export without constant folding")
    parser.add_argument("--weights", help="state dict (.pt/.pth) to load; default: random weights")
    parser.add_argument("--seed", type=int, default=0, help="seed for random weights and the dummy input")
    parser.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help=f"tolerance (default {DEFAULT_RTOL:g})")
    parser.add_argument("--engine", help="also save the Kiln engine to this file")
    parser.add_argument("--backend", choices=["auto", "cpu", "cuda"], default="auto",
                        help="Kiln backend (default auto: CUDA when a GPU is present, else CPU)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 on the GPU (then use a looser --rtol)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print Kiln's info messages")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    import torch

    torch.manual_seed(args.seed)
    output = args.output or f"{args.model.rpartition(':')[2]}.onnx"
    logger = kiln.Logger(kiln.Logger.INFO if args.verbose else kiln.Logger.WARNING)
    try:
        model = resolve_model(args.model, args.weights)
        weights = args.weights or "random weights"
        say(f"model: {args.model} ({type(model).__name__}, {weights})")
        report = export_and_check(
            model,
            output,
            batch=args.batch,
            image_size=args.image_size,
            channels=args.channels,
            dynamic_batch=args.dynamic_batch,
            rtol=args.rtol,
            seed=args.seed,
            engine_path=args.engine,
            logger=logger,
            backend=getattr(kiln.Backend, args.backend.upper()),
            tf32=args.tf32,
            progress=say,
            input_names=(args.input_name,),
            output_names=args.output_names,
            opset=args.opset,
            constant_folding=not args.no_constant_folding,
        )
    except (kiln.KilnError, ValueError, OSError, RuntimeError, ImportError, AttributeError) as e:
        print(f"kiln.export: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    worst = max(o.max_rel for c in report.checks for o in c.outputs)
    if report.passed:
        say(f"PASS: Kiln's outputs match PyTorch's (max rel error {worst:.3g} <= {args.rtol:g}); model in {output}")
        return 0
    say(f"FAIL: Kiln's outputs differ from PyTorch's (max rel error {worst:.3g} > {args.rtol:g})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
