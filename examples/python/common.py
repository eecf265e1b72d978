"""What the Python samples share: build-or-load of the engine, and reading photos."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

import kiln

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / ".cache" / "models"  # tests/models/prepare_models.sh puts the real models here


def default_engine_path(model: Path) -> Path:
    """<name>.engine in the current directory; <name> is the model's folder for files called model.onnx."""
    name = model.parent.name if model.stem == "model" else model.stem
    return Path(f"{name}.engine")


def open_engine(
    model: Path,
    engine_path: Path,
    force: bool,
    max_batch: Optional[int] = None,
    verbose: bool = False,
) -> kiln.Engine:
    """The engine for `model`: loaded from `engine_path` when that holds one built from this model with these
    options, else built and saved there (Builder.build_engine_file; force=True always rebuilds). Inputs with a
    dynamic batch dim get the profile 1..max_batch..max_batch, the same on every run so that the engine is reused."""
    logger = kiln.Logger(kiln.Logger.INFO if verbose else kiln.Logger.WARNING)
    if not model.is_file():
        raise kiln.NotFoundError(f"model file '{model}' does not exist")
    builder = kiln.Builder(logger)
    config = builder.create_builder_config()
    if max_batch is not None:
        # The profile needs the input shapes, which only the parsed network knows.
        network = builder.create_network()
        kiln.OnnxParser(network, logger).parse_from_file(model)
        profile = builder.create_optimization_profile()
        dynamic = False
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            if tensor.shape and tensor.shape[0] < 0 and all(d >= 0 for d in tensor.shape[1:]):
                rest = tuple(tensor.shape[1:])
                profile.set_shape(tensor.name, (1, *rest), (max_batch, *rest), (max_batch, *rest))
                dynamic = True
        if dynamic:
            config.add_optimization_profile(profile)
    result = builder.build_engine_file(model, config, engine_path, force=force)
    print(f"engine: {result.action.name.lower()} {engine_path} ({result.reason})")
    return result.engine


def io_names(engine: kiln.Engine) -> tuple[list[str], list[str]]:
    """(input names, output names) in engine order."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == kiln.TensorIOMode.INPUT]
    return inputs, [n for n in names if n not in inputs]


def read_rgb(path: Path) -> Image.Image:
    try:
        return Image.open(path).convert("RGB")
    except (OSError, ValueError) as e:
        raise kiln.NotFoundError(f"cannot read image '{path}': {e}") from None


def chw(image: Image.Image, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 photo -> 3xHxW float32, (x / 255 - mean) / std per channel."""
    x = np.asarray(image, dtype=np.float32) / 255.0
    return ((x - mean) / std).transpose(2, 0, 1)
