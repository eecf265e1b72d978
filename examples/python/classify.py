#!/usr/bin/env python3
"""Image classification with Kiln: several photos become one batch through a ResNet-50 engine; top-5 per photo.

    python3 examples/python/classify.py photo1.png photo2.jpg ... [--model resnet50.onnx] [--force]

The engine is built on first use and saved (default <model>.engine in the current directory); later runs load it
(Builder.build_engine_file), --force rebuilds. A model whose batch dim is dynamic gets the profile 1..--max-batch.
Preprocessing is torchvision's for ImageNet models: resize the short
side to 256, center-crop 224, RGB / 255, normalized with the ImageNet mean and std. Labels come from --labels FILE
(one per line), else from torchvision's bundled ImageNet category names, else the class index is printed.

The default model is the repo's .cache/models/resnet50/model.onnx (tests/models/prepare_models.sh). Any classifier
with one NCHW image input and [N, classes] logits works, e.g. from `python -m kiln.export resnet50 --batch 8
--dynamic-batch -o resnet50.onnx`. (Both have random weights, so their top-5 only shows that the pipeline runs.)
build/kiln-classify (examples/classify/classify.cpp) is its C++ twin: same flags, same lines, and with the same engine
the same logits bit for bit (--save-outputs DIR writes them as .npy).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

import kiln
from common import (IMAGENET_MEAN, IMAGENET_STD, MODELS, add_common_arguments, as_input, batch_limit, chw,
                    default_engine_path, io_names, open_engine, positive_int, read_rgb, save_outputs)


def preprocess(image: Image.Image, size: int = 224, resize: int = 256) -> np.ndarray:
    """Short side to `resize` (bilinear), center crop `size`, normalized 3 x size x size float32."""
    w, h = image.size
    scale = resize / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return chw(image.crop((left, top, left + size, top + size)), IMAGENET_MEAN, IMAGENET_STD)


def load_labels(path: Optional[Path]) -> Optional[list[str]]:
    if path is not None:
        try:
            return path.read_text().splitlines()
        except OSError:
            raise kiln.NotFoundError(f"label file '{path}' cannot be read") from None
    try:
        from torchvision.models._meta import _IMAGENET_CATEGORIES  # ships with torchvision, no download

        return list(_IMAGENET_CATEGORIES)
    except ImportError:
        return None


def top_k(logits: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k highest logits, best first (ties keep class order), with their softmax probabilities (in float64).
    Ranked by the logits themselves, which the engine gives bit-identically to both languages."""
    z = np.exp(logits.astype(np.float64) - float(logits.max()))
    p = z / z.sum()
    best = np.argsort(-logits, kind="stable")[:k]
    return [(int(i), float(p[i])) for i in best]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Classify photos in one batch with a Kiln engine (top-5 each).")
    add_common_arguments(parser, MODELS / "resnet50" / "model.onnx", "ONNX classifier", 8,
                         "largest batch the engine takes")
    parser.add_argument("--labels", type=Path, help="class names, one per line")
    parser.add_argument("--top", type=positive_int, default=5, help="classes to print per photo (default 5)")
    args = parser.parse_args(argv)
    try:
        if len(args.images) > args.max_batch:
            raise kiln.InvalidArgumentError(f"{len(args.images)} images, but --max-batch is {args.max_batch}")
        photos = [read_rgb(p) for p in args.images]
        labels = load_labels(args.labels)
        start = time.perf_counter()
        engine_path = args.engine or default_engine_path(args.model)
        engine = open_engine(args.model, engine_path, args.force, args.max_batch, args.verbose, args.backend)
        inputs, outputs = io_names(engine)
        shape = engine.get_tensor_shape(inputs[0])
        if len(shape) != 4 or shape[1] != 3 or shape[2] <= 0 or shape[2] != shape[3]:
            raise kiln.InvalidArgumentError(f"input '{inputs[0]}' [{'x'.join(map(str, shape))}] must be [N, 3, S, S] "
                                            "with a static size S")
        limit = batch_limit(engine, inputs[0])
        if len(photos) > limit or (shape[0] >= 0 and len(photos) != shape[0]):
            raise kiln.InvalidArgumentError(f"{len(photos)} images, but the engine's input '{inputs[0]}' takes "
                                            f"{'exactly' if shape[0] >= 0 else 'at most'} {limit} per batch")
        print(f"engine ready in {time.perf_counter() - start:.2f} s: {engine}")
        batch = as_input(np.stack([preprocess(p, size=shape[2]) for p in photos]), engine, inputs[0])
        start = time.perf_counter()
        results = engine.create_execution_context().infer({inputs[0]: batch})
        logits = results[outputs[0]]
        print(f"ran batch of {len(batch)} in {time.perf_counter() - start:.2f} s: '{outputs[0]}' {logits.shape}")
        if logits.ndim != 2 or logits.shape[0] != len(batch) or logits.shape[1] <= 0 or logits.dtype.kind != "f":
            raise kiln.InvalidArgumentError(f"output '{outputs[0]}' {logits.dtype}{list(logits.shape)} must be "
                                            "[N, classes] logits")
        for row, (path, scores) in enumerate(zip(args.images, logits)):
            print(f"{path}:")
            for rank, (index, prob) in enumerate(top_k(scores, args.top), 1):
                name = labels[index] if labels and index < len(labels) else f"class {index}"
                print(f"  {rank}. {prob:7.2%}  {index:4d}  {name}")
            if args.save_outputs:
                save_outputs(args.save_outputs, path.stem, results, row)
    except (kiln.KilnError, OSError) as e:
        print(f"classify: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
