"""What the Python samples share: build-or-load of the engine, batching, reading photos, --save-outputs.

The C++ samples (examples/common/sample.cpp) do the same step for step, so that both languages build the same
engine, feed it the same bits and print the same lines (docs/samples.md).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

import kiln

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / ".cache" / "models"  # tests/models/prepare_models.sh puts the real models here
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
BACKENDS = {"auto": kiln.Backend.AUTO, "cpu": kiln.Backend.CPU, "cuda": kiln.Backend.CUDA}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def add_common_arguments(parser: argparse.ArgumentParser, model: Path, model_help: str, max_batch: int,
                         batch_help: str) -> None:
    """The photos and the flags both samples take (the C++ samples' addCommonOptions)."""
    parser.add_argument("images", nargs="+", type=Path, help="photos (PNG, JPEG, ...)")
    parser.add_argument("--model", type=Path, default=model, help=f"{model_help} (default: {model})")
    parser.add_argument("--engine", type=Path, help="engine file (default: <model name>.engine here)")
    parser.add_argument("--force", action="store_true", help="rebuild the engine even when the file matches")
    parser.add_argument("--max-batch", type=positive_int, default=max_batch, help=f"{batch_help} (default {max_batch})")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto (CUDA when a GPU is present, else CPU), cpu or cuda")
    parser.add_argument("--save-outputs", type=Path, metavar="DIR",
                        help="write each photo's raw outputs as DIR/<photo>.<output>.npy")
    parser.add_argument("-v", "--verbose", action="store_true", help="print Kiln's info messages")


def default_engine_path(model: Path) -> Path:
    """<name>.engine in the current directory; <name> is the model's folder for files called model.onnx."""
    name = model.parent.name if model.stem == "model" else model.stem
    return Path(f"{name}.engine")


def _batch_profile(builder: kiln.Builder, config: kiln.BuilderConfig, inputs, max_batch: int) -> None:
    """The profile 1..max_batch..max_batch for every input whose dim 0 alone is dynamic."""
    profile = builder.create_optimization_profile()
    dynamic = False
    for name, shape in inputs:
        if shape and shape[0] < 0 and all(d >= 0 for d in shape[1:]):
            rest = tuple(shape[1:])
            profile.set_shape(name, (1, *rest), (max_batch, *rest), (max_batch, *rest))
            dynamic = True
    if dynamic:
        config.add_optimization_profile(profile)


def _config(builder: kiln.Builder, backend: str) -> kiln.BuilderConfig:
    config = builder.create_builder_config()
    config.backend = BACKENDS[backend]
    return config


def _reuse(model: Path, engine_path: Path, max_batch: Optional[int], backend: str):
    """Reuse without parsing the model (0.4 s of the 0.45 s ResNet-50 takes to get ready): when the engine file loads,
    its own inputs give the profile, and build_engine_file (rebuild_stale=False) still checks that the file matches
    the model and the options. Anything else (a stale or damaged engine) raises here and takes the full path."""
    quiet = kiln.Logger(callback=lambda severity, msg: None)
    engine = kiln.Runtime(quiet).load_engine_file(engine_path)
    inputs = [(n, engine.get_tensor_shape(n)) for n in io_names(engine)[0]]
    builder = kiln.Builder(quiet)
    config = _config(builder, backend)
    if max_batch is not None:
        _batch_profile(builder, config, inputs, max_batch)
    return builder.build_engine_file(model, config, engine_path, force=False, rebuild_stale=False)


def open_engine(
    model: Path,
    engine_path: Path,
    force: bool,
    max_batch: Optional[int] = None,
    verbose: bool = False,
    backend: str = "auto",
) -> kiln.Engine:
    """The engine for `model`: loaded from `engine_path` when that holds one built from this model with these
    options, else built and saved there (Builder.build_engine_file; force=True always rebuilds). Inputs with a
    dynamic batch dim get the profile 1..max_batch..max_batch, the same on every run so that the engine is reused."""
    logger = kiln.Logger(kiln.Logger.INFO if verbose else kiln.Logger.WARNING)
    if not model.is_file():
        raise kiln.NotFoundError(f"model file '{model}' does not exist")
    result = None
    if not force and engine_path.exists():
        try:
            result = _reuse(model, engine_path, max_batch, backend)
        except kiln.KilnError:
            result = None
    if result is None:
        builder = kiln.Builder(logger)
        config = _config(builder, backend)
        if max_batch is not None:
            # The profile needs the input shapes, which only the parsed network knows.
            network = builder.create_network()
            kiln.OnnxParser(network, logger).parse_from_file(model)
            inputs = [(t.name, t.shape) for t in map(network.get_input, range(network.num_inputs))]
            _batch_profile(builder, config, inputs, max_batch)
        result = builder.build_engine_file(model, config, engine_path, force=force)
    print(f"engine: {result.action.name.lower()} {engine_path} ({result.reason})")
    return result.engine


def io_names(engine: kiln.Engine) -> tuple[list[str], list[str]]:
    """(input names, output names) in engine order."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == kiln.TensorIOMode.INPUT]
    return inputs, [n for n in names if n not in inputs]


def batch_limit(engine: kiln.Engine, name: str) -> int:
    """The most images one run of input `name` takes: its static dim 0, else the max of profile 0."""
    shape = engine.get_tensor_shape(name)
    if not shape:
        raise kiln.InvalidArgumentError(f"input '{name}' is a scalar, not a batch of images")
    return shape[0] if shape[0] >= 0 else engine.get_tensor_profile_shape(name, 0)[2][0]


def read_rgb(path: Path) -> Image.Image:
    if not path.is_file():
        raise kiln.NotFoundError(f"image '{path}' does not exist or is not a file")
    try:
        return Image.open(path).convert("RGB")
    except (OSError, ValueError) as e:
        raise kiln.InvalidArgumentError(f"cannot read image '{path}': {e}") from None


def chw(image: Image.Image, mean: np.ndarray, std: np.ndarray, divisor: float = 255.0) -> np.ndarray:
    """HxWx3 uint8 photo -> 3xHxW float32, (x / divisor - mean) / std per channel, in float32 and in this order (the C++
    samples compute exactly this)."""
    x = np.asarray(image, dtype=np.float32) / np.float32(divisor)
    return ((x - mean) / std).transpose(2, 0, 1)


def as_input(batch: np.ndarray, engine: kiln.Engine, name: str) -> np.ndarray:
    """The float32 batch in the input's dtype (float16 engines take float16)."""
    dtype = engine.get_tensor_dtype(name)
    if dtype not in (np.float32, np.float16):
        raise kiln.InvalidArgumentError(f"the image input is {np.dtype(dtype).name}; the samples feed float32 or "
                                        "float16 images")
    return batch.astype(dtype, copy=False)


def file_safe(name: str) -> str:
    """A tensor name safe in a file name (output names may hold '/' or ':'), as `kiln infer` makes it."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def save_outputs(folder: Path, stem: str, outputs: dict, row: int) -> None:
    """--save-outputs: row `row` of each output as FOLDER/<stem>.<output>.npy."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in outputs.items():
        data = array[row:row + 1] if array.ndim and array.shape[0] > row else array
        np.save(folder / f"{stem}.{file_safe(name)}.npy", data)
