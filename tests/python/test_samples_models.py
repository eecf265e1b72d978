"""The samples on the real models (ctest label `models`; skipped when tests/models/prepare_models.sh has not run):
ResNet-50 classification of three photos in one batch, ISNet and UNet segmentation, each in C++ and in Python on one
engine file, with the same top-5, the same masks and bit-identical raw outputs. Prints the build and reuse timings."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sample_runs import PHOTOS, opencv_photo, run, same_npy, top5_blocks

MODELS = Path(os.environ.get("KILN_MODELS_DIR", Path(__file__).resolve().parents[2] / ".cache" / "models"))


def model(name: str) -> Path:
    path = MODELS / name / "model.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is absent (tests/models/prepare_models.sh)")
    return path


def ready_seconds(stdout: str) -> float:
    return float(re.search(r"engine ready in ([0-9.]+) s", stdout).group(1))


def test_classify_resnet50_three_photos_in_one_batch(tmp_path):
    resnet = model("resnet50")
    args = [*PHOTOS, "--model", resnet, "--engine", tmp_path / "resnet50.engine"]
    first = run("cpp", "classify", *args, "--save-outputs", tmp_path / "cpp", cwd=tmp_path)
    assert first.returncode == 0 and "engine: built" in first.stdout
    assert "ran batch of 3" in first.stdout and "'logits' (3, 1000)" in first.stdout
    blocks = top5_blocks(first.stdout)
    assert list(blocks) == [str(p) for p in PHOTOS] and all(len(b) == 5 for b in blocks.values())

    again = run("cpp", "classify", *args, cwd=tmp_path)
    assert again.returncode == 0 and "engine: loaded" in again.stdout and top5_blocks(again.stdout) == blocks
    python = run("python", "classify", *args, "--save-outputs", tmp_path / "py", cwd=tmp_path)
    assert python.returncode == 0 and "engine: loaded" in python.stdout
    # Python prints torchvision's ImageNet names where C++ prints "class N": compare probability and index.
    assert {p: [r[:2] for r in b] for p, b in top5_blocks(python.stdout).items()} == \
        {p: [r[:2] for r in b] for p, b in blocks.items()}
    same_npy(tmp_path / "cpp", tmp_path / "py")
    forced = run("cpp", "classify", *args, "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "engine: built" in forced.stdout and "(force)" in forced.stdout
    print(f"ResNet-50 engine ready: build {ready_seconds(first.stdout):.2f} s, C++ reuse "
          f"{ready_seconds(again.stdout):.2f} s, Python reuse {ready_seconds(python.stdout):.2f} s, --force "
          f"{ready_seconds(forced.stdout):.2f} s")


def foreground_share(mask: np.ndarray) -> tuple[float, float]:
    return float((mask >= 200).mean()), float((mask <= 50).mean())


def test_segment_isnet_masks_are_the_subject(tmp_path):
    isnet = model("isnet_fp32")
    photos = [PHOTOS[0], PHOTOS[1], opencv_photo("fruits.jpg", tmp_path)]
    common = ["--model", isnet, "--engine", tmp_path / "isnet.engine"]
    cpp = run("cpp", "segment", *photos, *common, "--out-dir", tmp_path / "cpp", "--save-outputs",
              tmp_path / "cpp_npy", cwd=tmp_path)
    assert cpp.returncode == 0 and "engine: built" in cpp.stdout and "(isnet)" in cpp.stdout
    assert cpp.stdout.count("ran batch of 1 ") == 3  # ISNet's batch dim is 1: one photo per run
    for photo in photos:
        mask = np.asarray(Image.open(tmp_path / "cpp" / f"{photo.stem}_mask.png"))
        assert mask.shape[::-1] == Image.open(photo).size
        fg, bg = foreground_share(mask)
        print(f"{photo.name}: {fg:.1%} foreground (>= 200), {bg:.1%} background (<= 50)")
        assert fg > 0.05 and bg > 0.05, photo.name

    # Python on the PNG photos (JPEG decoders differ between Pillow and stb_image), loading C++'s engine.
    python = run("python", "segment", *photos[:2], *common, "--out-dir", tmp_path / "py", "--save-outputs",
                 tmp_path / "py_npy", cwd=tmp_path)
    assert python.returncode == 0 and "engine: loaded" in python.stdout
    for photo in photos[:2]:
        for suffix in ("mask", "cutout"):
            a = np.asarray(Image.open(tmp_path / "cpp" / f"{photo.stem}_{suffix}.png"))
            b = np.asarray(Image.open(tmp_path / "py" / f"{photo.stem}_{suffix}.png"))
            assert np.array_equal(a, b), f"{photo.stem}_{suffix}"
    for path in (tmp_path / "cpp_npy").glob("fruits.*"):
        path.unlink()
    assert len(same_npy(tmp_path / "cpp_npy", tmp_path / "py_npy")) == 2 * 12  # ISNet has 12 outputs
    print(f"ISNet engine ready: build {ready_seconds(cpp.stdout):.2f} s, Python reuse "
          f"{ready_seconds(python.stdout):.2f} s")


def test_segment_unet_three_photos_in_one_batch(tmp_path):
    unet = model("unet_small")
    common = ["--model", unet, "--engine", tmp_path / "unet.engine"]
    outputs = {}
    for language in ("cpp", "python"):
        result = run(language, "segment", *PHOTOS, *common, "--out-dir", tmp_path / language, "--save-outputs",
                     tmp_path / f"{language}_npy", cwd=tmp_path)
        assert result.returncode == 0 and "(unet)" in result.stdout and "ran batch of 3" in result.stdout
        outputs[language] = result.stdout
    assert "engine: built" in outputs["cpp"] and "engine: loaded" in outputs["python"]
    for photo in PHOTOS:
        a = np.asarray(Image.open(tmp_path / "cpp" / f"{photo.stem}_mask.png"))
        b = np.asarray(Image.open(tmp_path / "python" / f"{photo.stem}_mask.png"))
        assert a.shape[::-1] == Image.open(photo).size and np.array_equal(a, b), photo.stem
    same_npy(tmp_path / "cpp_npy", tmp_path / "python_npy")
