"""ctest demo.synthetic: kiln-isnet-cutout end to end on tiny synthetic models and real photos.

    /usr/bin/python3 synthetic_test.py --tool build/kiln-isnet-cutout --work build/examples/demo_synthetic

The models use only ops every Kiln build has (Add, Relu, Identity): output = Relu(input + bias), 64x64, in a gray
(1x1x64x64) and an RGB (1x3x64x64) variant. The expected alpha is computed here independently of the tool, with
Pillow and numpy, from the pixels the tool decoded (the cut-out's colour channels): resize as Pillow does,
(x - 128) / 256, the model, min-max normalisation, Pillow's float resize back to the photo, round to 8 bits.
Also checks the error paths: each must print one line `isnet-cutout: error: ...` and exit 1.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "models"))
import images  # noqa: E402  (the reference data's image helpers: Debian photos, Pillow resize)

SIZE = 64
STEPS = ["load model", "read image", "preprocess", "run (cpu)", "postprocess", "write png", "total"]


def bias(channels: int) -> np.ndarray:
    """A ramp from left to right, different per channel, so the output is not just the photo."""
    ramp = np.linspace(-0.25, 0.25, SIZE, dtype=np.float32)
    b = np.broadcast_to(ramp, (1, channels, SIZE, SIZE)).copy()
    b += np.arange(channels, dtype=np.float32).reshape(1, channels, 1, 1) * 0.1
    return b


def makeModel(path: Path, channels: int, dtype=TensorProto.FLOAT, shape=None) -> None:
    shape = shape or [1, channels, SIZE, SIZE]
    nodes = [
        helper.make_node("Add", ["input", "bias"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["positive"]),
        helper.make_node("Identity", ["positive"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, f"synthetic_c{channels}",
        [helper.make_tensor_value_info("input", dtype, shape)],
        [helper.make_tensor_value_info("output", dtype, [1, channels, SIZE, SIZE])],
        [numpy_helper.from_array(bias(channels), "bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if dtype == TensorProto.FLOAT and shape == [1, channels, SIZE, SIZE]:
        onnx.checker.check_model(model)
    onnx.save(model, str(path))


def makeUnknownOpModel(path: Path) -> None:
    """A model whose one node is an op of a made-up domain, which no Kiln build will ever run."""
    node = helper.make_node("Frobnicate", ["input"], ["output"], domain="com.example")
    graph = helper.make_graph([node], "unknown_op",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, SIZE, SIZE])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    onnx.save(model, str(path))


def expectedAlpha(rgb: np.ndarray, channels: int) -> np.ndarray:
    small = images.resize(rgb, SIZE, SIZE)
    plane = np.asarray(Image.fromarray(small).convert("L")) if channels == 1 else small[:, :, 0]
    x = (plane.astype(np.float32) - np.float32(128)) / np.float32(256)
    y = np.maximum(x + bias(channels)[0, 0], 0).astype(np.float32)
    y = (y - y.min()) / (y.max() - y.min())
    h, w = rgb.shape[:2]
    resized = np.asarray(Image.fromarray(y, mode="F").resize((w, h), Image.BILINEAR))
    return np.round(np.clip(resized, 0, 1) * 255).astype(np.int32)


def runTool(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=120)


def checkCutout(tool: str, work: Path, model: Path, channels: int, photo: Path, decoded: np.ndarray,
                exactColours: bool) -> list:
    errors = []
    tag = f"{photo.name} with the C={channels} model"
    out, mask = work / f"{photo.stem}_c{channels}_cutout.png", work / f"{photo.stem}_c{channels}_mask.png"
    for f in (out, mask):
        f.unlink(missing_ok=True)
    run = runTool(tool, "--model", model, "--image", photo, "--out", out, "--mask", mask)
    if run.returncode != 0:
        return [f"{tag}: exit {run.returncode}: {run.stderr.strip()}"]
    names = [line[:12].strip() for line in run.stdout.splitlines()]
    if names != STEPS:
        errors.append(f"{tag}: step lines {names}, want {STEPS}:\n{run.stdout}")
    cut = Image.open(out)
    if cut.mode != "RGBA" or cut.size != (decoded.shape[1], decoded.shape[0]):
        return errors + [f"{tag}: cut-out is {cut.mode} {cut.size}, want RGBA {decoded.shape[1::-1]}"]
    cut = np.asarray(cut)
    gray = Image.open(mask)
    if gray.mode != "L" or not np.array_equal(np.asarray(gray), cut[:, :, 3]):
        errors.append(f"{tag}: mask is {gray.mode} {gray.size} and differs from the cut-out's alpha")
    colours = cut[:, :, :3].astype(np.int32)
    colourDiff = np.abs(colours - decoded.astype(np.int32))
    if (exactColours and colourDiff.max() != 0) or colourDiff.mean() > 3:
        errors.append(f"{tag}: colours differ from the photo (max {colourDiff.max()}, mean {colourDiff.mean():.2f})")
    want = expectedAlpha(cut[:, :, :3], channels)
    alphaDiff = np.abs(cut[:, :, 3].astype(np.int32) - want)
    if alphaDiff.max() > 1:
        errors.append(f"{tag}: alpha differs from the expected by up to {alphaDiff.max()} "
                      f"({(alphaDiff > 1).sum()} pixels off by more than 1)")
    if cut[:, :, 3].min() > 10 or cut[:, :, 3].max() < 245:
        errors.append(f"{tag}: alpha spans only {cut[:, :, 3].min()}..{cut[:, :, 3].max()}, want about 0..255")
    return errors


def checkError(tool: str, what: str, args: list, wantText: str) -> list:
    run = runTool(tool, *args)
    lines = run.stderr.strip().splitlines()
    if run.returncode != 1 or len(lines) != 1 or not lines[0].startswith("isnet-cutout: error: ") \
            or wantText not in lines[0]:
        return [f"{what}: exit {run.returncode}, stderr {run.stderr.strip()!r}; want exit 1 and one error line "
                f"mentioning {wantText!r}"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)

    models = {c: work / f"synthetic_c{c}.onnx" for c in (1, 3)}
    for c, path in models.items():
        makeModel(path, c)
    from skimage import data
    astronaut = data.astronaut()  # 512x512 PNG, read back exactly
    astronautPng = work / "astronaut.png"
    Image.fromarray(astronaut).save(astronautPng)
    fruitsJpg = images.opencvSample("fruits.jpg")  # 512x480 JPEG: not square; decoders differ by a level or two
    fruits = images.loadRgb(fruitsJpg)

    errors = []
    errors += checkCutout(args.tool, work, models[3], 3, astronautPng, astronaut, exactColours=True)
    errors += checkCutout(args.tool, work, models[1], 1, fruitsJpg, fruits, exactColours=False)
    errors += checkCutout(args.tool, work, models[3], 3, fruitsJpg, fruits, exactColours=False)

    out = work / "error_cutout.png"
    notImage = work / "not_an_image.jpg"
    notImage.write_text("this is not a JPEG\n")
    twoChannels = work / "two_channels.onnx"
    makeModel(twoChannels, 2)
    intInput = work / "int_input.onnx"
    makeModel(intInput, 1, dtype=TensorProto.INT64)
    dynamic = work / "dynamic_size.onnx"
    makeModel(dynamic, 1, shape=[1, 1, "height", "width"])
    errors += checkError(args.tool, "missing model", ["--model", work / "nope.onnx", "--image", astronautPng,
                                                       "--out", out], "nope.onnx")
    errors += checkError(args.tool, "missing image", ["--model", models[3], "--image", work / "nope.png",
                                                       "--out", out], "nope.png")
    errors += checkError(args.tool, "unreadable image", ["--model", models[3], "--image", notImage, "--out", out],
                         "not_an_image.jpg")
    errors += checkError(args.tool, "model with 2 channels", ["--model", twoChannels, "--image", astronautPng,
                                                               "--out", out], "must be an image 1xCxHxW")
    errors += checkError(args.tool, "model with an int64 input", ["--model", intInput, "--image", astronautPng,
                                                                   "--out", out], "must be float32 or float16")
    errors += checkError(args.tool, "model with a dynamic size", ["--model", dynamic, "--image", astronautPng,
                                                                   "--out", out], "static H, W")
    unknownOp = work / "unknown_op.onnx"
    makeUnknownOpModel(unknownOp)
    errors += checkError(args.tool, "model with an op Kiln lacks", ["--model", unknownOp, "--image", astronautPng,
                                                                     "--out", out], "Frobnicate x1")
    errors += checkError(args.tool, "no --out", ["--model", models[3], "--image", astronautPng], "--out")
    if out.exists():
        errors.append(f"{out} was written although every run failed")

    for e in errors:
        print("FAIL:", e)
    print("demo.synthetic:", "FAILED" if errors else "passed", f"({len(errors)} problems)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
