#!/usr/bin/env python3
"""Calibration inputs for the accuracy guard (kiln build --accuracy): a second input set per real model, from other
real data than the model's test_data_set_0, so that a guarded engine is judged on inputs it was not tuned on.

    OUT/<name>/calib_set_<k>/input_<i>.pb  onnx.TensorProto, the same name, dtype and shape as test_data_set_0's

    tests/models/prepare_calibration.py [--out .cache/models] [MODEL...]

The shapes equal the test inputs' so that one profile (pinned at the test shapes, as kiln-conformance builds) holds
both. Two sets per model, four for rec and cls (the guard judges on the worst of them): PP-OCR det the skimage coffee and chelsea photos
(text-free: what the guard sees there is the image statistics), rec and cls other text lines of the same document
than the test crops (four sets of them), UNet opencv baboon.jpg and skimage chelsea, BERT token ids from two other seeds. Other models
(isnet, resnet50) are not packed for the GPU check and get none.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import images  # noqa: E402


def _testInput(folder: Path, i: int) -> onnx.TensorProto:
    t = onnx.TensorProto()
    t.ParseFromString((folder / "test_data_set_0" / f"input_{i}.pb").read_bytes())
    return t


# Each source returns the sets: a list (one per set) of lists (one array per model input).

def ppocrDet(shape):
    from skimage import data
    _, _, h, w = shape
    return [[images.toChw(images.resize(photo, w, h)[:, :, ::-1], images.IMAGENET_MEAN, images.IMAGENET_STD)[None]]
            for photo in (data.coffee(), data.chelsea())]


def _lineCrops(width: int, ratio: float, count: int, offset: int):
    img = images.loadRgb(images.opencvSample("imageTextN.png"))
    lines = images.textLines(img)
    # The test sets use lines 1 and 3: take others.
    picks = [k for k in range(len(lines)) if k not in (1, 3)][offset:offset + count]
    return np.stack([images.ppocrLineInput(images.textCrop(img, lines[k], ratio), 48, width) for k in picks])


def ppocrRec(shape):
    # Four sets: a recognizer's output moves with each crop's characters, so the guard needs more lines than an
    # image model needs photos to judge what it will see.
    return [[_lineCrops(320, 6.6, shape[0], k * shape[0])] for k in range(4)]


def ppocrCls(shape):
    return [[_lineCrops(192, 4.0, shape[0], k * shape[0])] for k in range(4)]


def unet(shape):
    from skimage import data
    baboon = images.loadRgb(images.opencvSample("baboon.jpg"))
    return [[images.imagenetChw(photo, shape[2])[None]] for photo in (baboon, data.chelsea())]


def bert(shape):
    sets = []
    for seed in (7, 8):
        ids = np.random.default_rng(seed).integers(0, 1000, size=tuple(shape), dtype=np.int64)
        ids[:, 0] = 1  # the "CLS" token, as in the test set
        sets.append([ids])
    return sets


SOURCES = {"ppocrv4_det": ppocrDet, "ppocrv4_rec": ppocrRec, "ppocr_cls": ppocrCls, "unet_small": unet,
           "bert_tiny": bert}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / ".cache" / "models"))
    ap.add_argument("models", nargs="*", default=sorted(SOURCES))
    args = ap.parse_args()
    for name in args.models:
        folder = Path(args.out) / name
        if name not in SOURCES or not (folder / "test_data_set_0").is_dir():
            print(f"prepare_calibration: {name}: skipped (no source or no test_data_set_0)")
            continue
        first = _testInput(folder, 0)
        sets = SOURCES[name](list(first.dims))
        for k, arrays in enumerate(sets):
            out = folder / f"calib_set_{k}"
            out.mkdir(exist_ok=True)
            for i, a in enumerate(arrays):
                want = _testInput(folder, i)
                a = np.ascontiguousarray(a.astype(numpy_helper.to_array(want).dtype))
                if list(a.shape) != list(want.dims):
                    raise ValueError(f"{name}: calibration input {i} has shape {a.shape}, the test input "
                                     f"{list(want.dims)}")
                (out / f"input_{i}.pb").write_bytes(numpy_helper.from_array(a, want.name).SerializeToString())
        print(f"prepare_calibration: {name}: {len(sets)} sets of {[list(a.shape) for a in sets[0]]} -> {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
