"""The Python samples end to end (examples/python): classify.py and segment.py on small models and real photos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, SKIMAGE_DATA, classifier_graph, save, subprocess_env
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

import kiln

PHOTOS = [SKIMAGE_DATA / name for name in ("astronaut.png", "chelsea.png", "coffee.png")]


def run(script: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=120, env=subprocess_env())
    print(result.stdout, result.stderr)
    return result


def color_classifier(path: Path) -> Path:
    """input [N, 3, 224, 224] -> mean per channel -> logits = (R, G, B, 0, 0): the class is the dominant colour."""
    fc = np.zeros((5, 3), np.float32)
    fc[0, 0] = fc[1, 1] = fc[2, 2] = 1.0
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pool"]),
         helper.make_node("Flatten", ["pool"], ["flat"]),
         helper.make_node("MatMul", ["flat", "fc"], ["logits"])],
        "colors",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(fc.T.copy(), "fc")],
    )
    return save(graph, path)


def segmenter(path: Path, channels: int, batch=1) -> Path:
    """input [1, 3, 32, 32] -> 1x1 conv: channels = 2 gives (-sum, +sum) logits (a UNet's two classes), channels = 1
    gives sigmoid(sum) (ISNet's one map). Bright pixels are foreground either way."""
    w = np.ones((channels, 3, 1, 1), np.float32)
    if channels == 2:
        w[0] = -1.0
    nodes = [helper.make_node("Conv", ["input", "w"], ["map" if channels == 1 else "logits"])]
    if channels == 1:
        nodes.append(helper.make_node("Sigmoid", ["map"], ["logits"]))
    graph = helper.make_graph(
        nodes, "segmenter",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, channels, 32, 32])],
        [numpy_helper.from_array(w, "w")],
    )
    return save(graph, path)


def test_classify_three_real_photos_in_one_batch(tmp_path):
    model = save(classifier_graph(size=224, classes=10), tmp_path / "classifier.onnx")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"label{i}" for i in range(10)))
    result = run("classify.py", *PHOTOS, "--model", model, "--labels", labels, cwd=tmp_path)
    assert result.returncode == 0
    assert "ran batch of 3" in result.stdout and "'logits' (3, 10)" in result.stdout
    blocks = result.stdout.split(f"{SKIMAGE_DATA}/")[1:]
    assert [b.splitlines()[0] for b in blocks] == ["astronaut.png:", "chelsea.png:", "coffee.png:"]
    for block in blocks:
        ranks = [line.split()[0] for line in block.splitlines()[1:6]]
        assert ranks == ["1.", "2.", "3.", "4.", "5."] and "label" in block


def test_classify_predicts_the_dominant_colour(tmp_path):
    photos = []
    for name, rgb in (("red", (230, 20, 20)), ("blue", (20, 20, 230)), ("green", (20, 230, 20))):
        photos.append(tmp_path / f"{name}.png")
        Image.new("RGB", (300, 260), rgb).save(photos[-1])
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\nnone\nnothing\n")
    result = run("classify.py", *photos, "--model", color_classifier(tmp_path / "c.onnx"), "--labels", labels,
                 "--top", "2", cwd=tmp_path)
    assert result.returncode == 0
    tops = [line.split()[-1] for line in result.stdout.splitlines() if line.strip().startswith("1.")]
    assert tops == ["red", "blue", "green"]


def test_classify_builds_once_then_reuses_and_force_rebuilds(tmp_path):
    model = color_classifier(tmp_path / "c.onnx")
    args = [PHOTOS[1], "--model", model, "--engine", tmp_path / "c.engine"]
    assert "engine: built" in run("classify.py", *args, cwd=tmp_path).stdout
    assert "engine: loaded" in run("classify.py", *args, cwd=tmp_path).stdout
    assert "engine: built" in run("classify.py", *args, "--force", cwd=tmp_path).stdout


def test_classify_errors(tmp_path):
    result = run("classify.py", PHOTOS[0], "--model", tmp_path / "missing.onnx", cwd=tmp_path)
    assert result.returncode == 1 and "missing.onnx' does not exist" in result.stderr
    model = color_classifier(tmp_path / "c.onnx")
    result = run("classify.py", tmp_path / "nope.png", "--model", model, cwd=tmp_path)
    assert result.returncode == 1 and "cannot read image" in result.stderr


@pytest.mark.parametrize("channels, kind, batch", [(2, "unet", 1), (1, "isnet", 1), (2, "unet", "N")],
                         ids=["unet", "isnet", "unet-dynamic-batch"])
def test_segment_writes_mask_and_cutout(tmp_path, channels, kind, batch):
    photo = np.zeros((30, 40, 3), np.uint8)
    photo[:, :20] = 240  # bright left half: the "subject"
    Image.fromarray(photo).save(tmp_path / "half.png")
    model = segmenter(tmp_path / f"seg{channels}.onnx", channels, batch)
    result = run("segment.py", tmp_path / "half.png", "--model", model, "--out", tmp_path / "cut.png", "--mask",
                 tmp_path / "mask.png", cwd=tmp_path)
    assert result.returncode == 0 and f"({kind})" in result.stdout
    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    cutout = Image.open(tmp_path / "cut.png")
    assert mask.shape == (30, 40) and cutout.mode == "RGBA" and cutout.size == (40, 30)
    assert mask[:, :15].mean() > 200 and mask[:, 25:].mean() < 50
    rgba = np.asarray(cutout)
    assert np.array_equal(rgba[..., 3], mask) and np.array_equal(rgba[..., :3], photo)


def test_segment_real_photo_small_unet(tmp_path):
    """A real photo through the same pipeline (the tiny model's mask is not meaningful, its files are)."""
    model = segmenter(tmp_path / "seg.onnx", 2)
    result = run("segment.py", SKIMAGE_DATA / "coffee.png", "--model", model, cwd=tmp_path)
    assert result.returncode == 0
    assert Image.open(tmp_path / "coffee_mask.png").size == Image.open(SKIMAGE_DATA / "coffee.png").size
    assert Image.open(tmp_path / "coffee_cutout.png").mode == "RGBA"


def test_segment_rejects_a_non_image_model(tmp_path):
    model = save(classifier_graph(batch=1), tmp_path / "classifier.onnx")
    result = run("segment.py", PHOTOS[0], "--model", model, cwd=tmp_path)
    assert result.returncode == 1 and "must be [1, 3, H, W]" in result.stderr
