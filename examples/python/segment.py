#!/usr/bin/env python3
"""Foreground segmentation with Kiln: a photo in, a mask PNG and an RGBA cut-out out (the seed's example).

    python3 examples/python/segment.py photo.png [--model isnet.onnx] [--out cutout.png] [--mask mask.png] [--force]

The model takes one image [1, 3, H, W] (H, W static) and its first output is a map [1, C, H', W']:
  - ISNet (C = 1, the default .cache/models/isnet_fp32 from IMG.LY's background removal): input RGB (x - 128) / 256;
    the map is min-max normalized, as rembg does;
  - a UNet (C = 2, e.g. .cache/models/unet_small): input ImageNet mean/std; foreground = softmax channel 1.
--kind picks one of them; by default C decides. The map is resized to the photo (bilinear) and becomes the mask and
the cut-out's alpha. The engine is built on first use and saved (<model>.engine here), reused later; --force
rebuilds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import kiln
from common import MODELS, chw, default_engine_path, io_names, open_engine, read_rgb

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def preprocess(photo: Image.Image, kind: str, height: int, width: int) -> np.ndarray:
    resized = photo.resize((width, height), Image.BILINEAR)
    if kind == "isnet":  # IMG.LY's tensorHWCtoBCHW: (x - 128) / 256 in pixel units
        x = (np.asarray(resized, dtype=np.float32) - 128.0) / 256.0
        return x.transpose(2, 0, 1)[None]
    return chw(resized, IMAGENET_MEAN, IMAGENET_STD)[None]


def foreground(output: np.ndarray, kind: str) -> np.ndarray:
    """The H'xW' foreground map in [0, 1] from the model's first output [1, C, H', W']."""
    if kind == "isnet":
        m = output[0, 0].astype(np.float32)
        lo, hi = float(m.min()), float(m.max())
        return (m - lo) / (hi - lo) if hi - lo > 1e-6 else np.clip(m, 0.0, 1.0)
    z = output[0].astype(np.float32)
    z = np.exp(z - z.max(axis=0, keepdims=True))
    return z[1] / z.sum(axis=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Cut the foreground out of a photo with a Kiln engine.")
    parser.add_argument("image", type=Path, help="photo (PNG, JPEG, ...)")
    parser.add_argument("--model", type=Path, default=MODELS / "isnet_fp32" / "model.onnx", help="ONNX model")
    parser.add_argument("--kind", choices=["auto", "isnet", "unet"], default="auto",
                        help="pre/postprocessing (default: from the output's channels, 1 = isnet, 2 = unet)")
    parser.add_argument("--engine", type=Path, help="engine file (default: <model name>.engine here)")
    parser.add_argument("--force", action="store_true", help="rebuild the engine even when the file matches")
    parser.add_argument("--out", type=Path, help="RGBA cut-out PNG (default <image>_cutout.png here)")
    parser.add_argument("--mask", type=Path, help="mask PNG (default <image>_mask.png here)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print Kiln's info messages")
    args = parser.parse_args(argv)
    out = args.out or Path(f"{args.image.stem}_cutout.png")
    mask_path = args.mask or Path(f"{args.image.stem}_mask.png")
    try:
        start = time.perf_counter()
        # max_batch=1: a model with a dynamic batch dim (the UNet) gets the profile 1..1..1.
        engine = open_engine(args.model, args.engine or default_engine_path(args.model), args.force, 1, args.verbose)
        inputs, outputs = io_names(engine)
        shape = engine.get_tensor_shape(inputs[0])
        out_shape = engine.get_tensor_shape(outputs[0])
        if len(shape) != 4 or shape[1] != 3 or min(shape[2:]) <= 0 or len(out_shape) != 4:
            raise kiln.InvalidArgumentError(f"input '{inputs[0]}' {shape} must be [1, 3, H, W] with static H, W, "
                                            f"output '{outputs[0]}' {out_shape} [1, C, H, W]")
        kind = args.kind if args.kind != "auto" else ("isnet" if out_shape[1] == 1 else "unet")
        print(f"engine ready in {time.perf_counter() - start:.2f} s ({kind}): {engine}")
        photo = read_rgb(args.image)
        x = preprocess(photo, kind, shape[2], shape[3])
        start = time.perf_counter()
        result = engine.create_execution_context().infer({inputs[0]: x})[outputs[0]]
        print(f"ran in {time.perf_counter() - start:.2f} s: '{outputs[0]}' {result.shape}")
        fg = Image.fromarray(foreground(result, kind), mode="F").resize(photo.size, Image.BILINEAR)
        alpha = Image.fromarray(np.round(np.clip(np.asarray(fg), 0.0, 1.0) * 255.0).astype(np.uint8), mode="L")
        alpha.save(mask_path)
        cutout = photo.copy()
        cutout.putalpha(alpha)
        cutout.save(out)
        share = float(np.asarray(alpha).mean()) / 255.0
        print(f"wrote {mask_path} (mask, {photo.width}x{photo.height}) and {out} (RGBA); foreground {share:.1%}")
    except (kiln.KilnError, OSError) as e:
        print(f"segment: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
