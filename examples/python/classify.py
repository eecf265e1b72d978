#!/usr/bin/env python3
"""Image classification with Kiln: several photos become one batch through a ResNet-50 engine; top-5 per photo.

    python3 examples/python/classify.py photo1.png photo2.jpg ... [--model resnet50.onnx] [--force]

The engine is built on first use and saved (default <model>.engine in the current directory); later runs load it
(Builder.build_engine_file), --force rebuilds. Preprocessing is torchvision's for ImageNet models: resize the short
side to 256, center-crop 224, RGB / 255, normalized with the ImageNet mean and std. Labels come from --labels FILE
(one per line), else from torchvision's bundled ImageNet category names, else the class index is printed.

The default model is the repo's .cache/models/resnet50/model.onnx (tests/models/prepare_models.sh). Any classifier
with one NCHW image input and [N, classes] logits works, e.g. from `python -m kiln.export resnet50 --batch 8
--dynamic-batch -o resnet50.onnx`. (Both have random weights, so their top-5 only shows that the pipeline runs.)
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
from common import MODELS, chw, default_engine_path, io_names, open_engine, read_rgb

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


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
        return path.read_text().splitlines()
    try:
        from torchvision.models._meta import _IMAGENET_CATEGORIES  # ships with torchvision, no download

        return list(_IMAGENET_CATEGORIES)
    except ImportError:
        return None


def top_k(logits: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k classes with the highest softmax probability, best first."""
    z = logits.astype(np.float64) - logits.max()
    p = np.exp(z) / np.exp(z).sum()
    best = np.argsort(-p, kind="stable")[:k]
    return [(int(i), float(p[i])) for i in best]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Classify photos in one batch with a Kiln engine (top-5 each).")
    parser.add_argument("images", nargs="+", type=Path, help="photos (PNG, JPEG, ...)")
    parser.add_argument("--model", type=Path, default=MODELS / "resnet50" / "model.onnx", help="ONNX classifier")
    parser.add_argument("--engine", type=Path, help="engine file (default: <model name>.engine here)")
    parser.add_argument("--force", action="store_true", help="rebuild the engine even when the file matches")
    parser.add_argument("--labels", type=Path, help="class names, one per line")
    parser.add_argument("--top", type=int, default=5, help="classes to print per photo (default 5)")
    parser.add_argument("--max-batch", type=int, default=8, help="largest batch the engine takes (default 8)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print Kiln's info messages")
    args = parser.parse_args(argv)
    try:
        if len(args.images) > args.max_batch:
            raise kiln.InvalidArgumentError(f"{len(args.images)} images, but --max-batch is {args.max_batch}")
        start = time.perf_counter()
        engine_path = args.engine or default_engine_path(args.model)
        engine = open_engine(args.model, engine_path, args.force, args.max_batch, args.verbose)
        inputs, outputs = io_names(engine)
        height = engine.get_tensor_shape(inputs[0])[2]  # square NCHW input, 224 for ImageNet models
        print(f"engine ready in {time.perf_counter() - start:.2f} s: {engine}")
        batch = np.stack([preprocess(read_rgb(p), size=height) for p in args.images])
        start = time.perf_counter()
        logits = engine.create_execution_context().infer({inputs[0]: batch})[outputs[0]]
        print(f"ran batch of {len(batch)} in {time.perf_counter() - start:.2f} s: '{outputs[0]}' {logits.shape}")
        labels = load_labels(args.labels)
        for path, row in zip(args.images, logits):
            print(f"{path}:")
            for rank, (index, prob) in enumerate(top_k(row, args.top), 1):
                name = labels[index] if labels and index < len(labels) else f"class {index}"
                print(f"  {rank}. {prob:7.2%}  {index:4d}  {name}")
    except (kiln.KilnError, OSError) as e:
        print(f"classify: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
