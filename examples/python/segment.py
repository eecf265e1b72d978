#!/usr/bin/env python3
"""Foreground segmentation with Kiln: photos in, a mask PNG and an RGBA cut-out per photo out (the seed's example).

    python3 examples/python/segment.py photo.png ... [--model isnet.onnx] [--out-dir DIR] [--force]
    python3 examples/python/segment.py photo.png --out cutout.png --mask mask.png

The model takes images [N, 3, H, W] (N dynamic or 1; H, W static) and its first output is a map [N, C, H', W']:
  - ISNet (C = 1, the default .cache/models/isnet_fp32 from IMG.LY's background removal): input RGB (x - 128) / 256;
    the map is min-max normalized, as rembg does;
  - a UNet (C = 2, e.g. .cache/models/unet_small): input ImageNet mean/std; foreground = softmax channel 1.
--kind picks one of them; by default C decides. The map is resized to the photo (bilinear) and becomes the mask and
the cut-out's alpha. Photos run in batches of up to --max-batch when the batch dim is dynamic (its profile is
1..max-batch), one at a time when it is 1. The engine is built on first use and saved (<model>.engine here), reused
later; --force rebuilds. build/kiln-segment (examples/segment/segment.cpp) is its C++ twin: same flags, same lines,
and with the same engine the same masks (PNG photos; JPEG decoders differ) and raw outputs (--save-outputs DIR).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import kiln
from common import (IMAGENET_MEAN, IMAGENET_STD, MODELS, add_common_arguments, as_input, batch_limit, chw,
                    default_engine_path, io_names, open_engine, read_rgb, save_outputs)

ISNET_MEAN = np.full(3, 128.0, np.float32)  # IMG.LY's tensorHWCtoBCHW: (x - 128) / 256 in pixel units
ISNET_STD = np.full(3, 256.0, np.float32)


def preprocess(photo: Image.Image, kind: str, height: int, width: int) -> np.ndarray:
    resized = photo.resize((width, height), Image.BILINEAR)
    if kind == "isnet":
        return chw(resized, ISNET_MEAN, ISNET_STD, divisor=1.0)
    return chw(resized, IMAGENET_MEAN, IMAGENET_STD)


def foreground(output: np.ndarray, name: str, kind: str) -> np.ndarray:
    """The H'xW' foreground map in [0, 1] from one photo's [C, H', W'] of the model's first output."""
    if kind == "isnet":
        m = output[0].astype(np.float32)
        if not np.isfinite(m).all():
            raise kiln.InvalidArgumentError(f"output '{name}' has non-finite values")
        lo, hi = float(m.min()), float(m.max())
        return (m - lo) / (hi - lo) if hi - lo > 1e-6 else np.clip(m, 0.0, 1.0)
    if output.shape[0] < 2:
        raise kiln.InvalidArgumentError(f"output '{name}' has one channel; a UNet gives two or more")
    # In float64, where numpy's exp and the C library's agree: the C++ sample gives the same mask.
    z = np.exp(output.astype(np.float64) - output.max(axis=0).astype(np.float64))
    return (z[1] / z.sum(axis=0)).astype(np.float32)


def alpha_of(fg: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The map resized to the photo (bilinear, mode "F"), as 8-bit alpha (np.round: halves to even)."""
    resized = np.asarray(Image.fromarray(fg, mode="F").resize(size, Image.BILINEAR))
    return Image.fromarray(np.round(np.clip(resized, 0.0, 1.0) * 255.0).astype(np.uint8), mode="L")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Cut the foreground out of photos with a Kiln engine.")
    add_common_arguments(parser, MODELS / "isnet_fp32" / "model.onnx", "ONNX model", 4,
                         "photos per run when the batch dim is dynamic")
    parser.add_argument("--kind", choices=["auto", "isnet", "unet"], default="auto",
                        help="pre/postprocessing (default: from the output's channels, 1 = isnet, 2 = unet)")
    parser.add_argument("--out", type=Path, help="RGBA cut-out PNG of the one photo (default <photo>_cutout.png)")
    parser.add_argument("--mask", type=Path, help="mask PNG of the one photo (default <photo>_mask.png)")
    parser.add_argument("--out-dir", type=Path, default=Path("."), help="folder of masks and cut-outs (default: here)")
    args = parser.parse_args(argv)
    try:
        if (args.out or args.mask) and len(args.images) > 1:
            raise kiln.InvalidArgumentError(f"--out and --mask name one photo's files; with {len(args.images)} "
                                            "photos use --out-dir")
        photos = [read_rgb(p) for p in args.images]
        start = time.perf_counter()
        engine_path = args.engine or default_engine_path(args.model)
        engine = open_engine(args.model, engine_path, args.force, args.max_batch, args.verbose, args.backend)
        inputs, outputs = io_names(engine)
        shape, out_shape = engine.get_tensor_shape(inputs[0]), engine.get_tensor_shape(outputs[0])
        if len(shape) != 4 or shape[0] not in (-1, 1) or shape[1] != 3 or min(shape[2:]) <= 0 or len(out_shape) != 4:
            raise kiln.InvalidArgumentError(
                f"input '{inputs[0]}' [{'x'.join(map(str, shape))}] must be [N, 3, H, W] with N dynamic or 1 and "
                f"static H, W, output '{outputs[0]}' [{'x'.join(map(str, out_shape))}] [N, C, H, W]")
        kind = args.kind if args.kind != "auto" else ("isnet" if out_shape[1] == 1 else "unet")
        limit = batch_limit(engine, inputs[0])
        print(f"engine ready in {time.perf_counter() - start:.2f} s ({kind}): {engine}")
        context = engine.create_execution_context()
        for first in range(0, len(photos), limit):
            paths, chunk = args.images[first:first + limit], photos[first:first + limit]
            batch = as_input(np.stack([preprocess(p, kind, shape[2], shape[3]) for p in chunk]), engine, inputs[0])
            start = time.perf_counter()
            results = context.infer({inputs[0]: batch})
            maps = results[outputs[0]]
            print(f"ran batch of {len(chunk)} in {time.perf_counter() - start:.2f} s: '{outputs[0]}' {maps.shape}")
            if maps.ndim != 4 or maps.shape[0] != len(chunk) or maps.dtype.kind != "f":
                raise kiln.InvalidArgumentError(f"output '{outputs[0]}' {maps.dtype}{list(maps.shape)} must be a "
                                                "float map [N, C, H, W]")
            for row, (path, photo) in enumerate(zip(paths, chunk)):
                alpha = alpha_of(foreground(maps[row], outputs[0], kind), photo.size)
                mask_path = args.mask or args.out_dir / f"{path.stem}_mask.png"
                out = args.out or args.out_dir / f"{path.stem}_cutout.png"
                mask_path.parent.mkdir(parents=True, exist_ok=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                alpha.save(mask_path)
                cutout = photo.copy()
                cutout.putalpha(alpha)
                cutout.save(out)
                share = float(np.asarray(alpha).mean()) / 255.0
                print(f"wrote {mask_path} (mask, {photo.width}x{photo.height}) and {out} (RGBA); "
                      f"foreground {share:.1%}")
                if args.save_outputs:
                    save_outputs(args.save_outputs, path.stem, results, row)
    except (kiln.KilnError, OSError) as e:
        print(f"segment: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
