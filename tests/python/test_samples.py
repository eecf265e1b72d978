"""The samples end to end, each test in both languages: examples/python/{classify,segment}.py and their C++ twins
build/kiln-{classify,segment} (examples/{classify,segment}), on tiny synthetic models and real photos. The last tests
run both languages on one engine and require the same top-5, the same masks and bit-identical raw outputs. The real
models (ResNet-50, ISNet, UNet) are in test_samples_models.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import classifier_graph, save
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from sample_runs import LANGUAGES, PHOTOS, error_line, opencv_photo, run, same_npy, top5_blocks


def color_classifier(path: Path, batch="N") -> Path:
    """input [N, 3, 224, 224] -> mean per channel -> logits = (R, G, B, 0, 0): the class is the dominant colour."""
    fc = np.zeros((5, 3), np.float32)
    fc[0, 0] = fc[1, 1] = fc[2, 2] = 1.0
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pool"]),
         helper.make_node("Flatten", ["pool"], ["flat"]),
         helper.make_node("MatMul", ["flat", "fc"], ["logits"])],
        "colors",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 5])],
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


def half_photo(path: Path) -> np.ndarray:
    """30x40, bright left half (the "subject") on black."""
    photo = np.zeros((30, 40, 3), np.uint8)
    photo[:, :20] = 240
    Image.fromarray(photo).save(path)
    return photo


@pytest.mark.parametrize("language", LANGUAGES)
def test_classify_three_real_photos_in_one_batch(tmp_path, language):
    model = save(classifier_graph(size=224, classes=10), tmp_path / "classifier.onnx")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"label{i}" for i in range(10)))
    result = run(language, "classify", *PHOTOS, "--model", model, "--labels", labels, cwd=tmp_path)
    assert result.returncode == 0
    assert "ran batch of 3" in result.stdout and "'logits' (3, 10)" in result.stdout
    blocks = top5_blocks(result.stdout)
    assert list(blocks) == [str(p) for p in PHOTOS]
    for block in blocks.values():
        assert len(block) == 5 and all(label.startswith("label") for _, _, label in block)
        assert len({index for _, index, _ in block}) == 5


@pytest.mark.parametrize("language", LANGUAGES)
def test_classify_predicts_the_dominant_colour(tmp_path, language):
    photos = []
    for name, rgb in (("red", (230, 20, 20)), ("blue", (20, 20, 230)), ("green", (20, 230, 20))):
        photos.append(tmp_path / f"{name}.png")
        Image.new("RGB", (300, 260), rgb).save(photos[-1])
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\nnone\nnothing\n")
    result = run(language, "classify", *photos, "--model", color_classifier(tmp_path / "c.onnx"), "--labels", labels,
                 "--top", "2", cwd=tmp_path)
    assert result.returncode == 0
    tops = [line.split()[-1] for line in result.stdout.splitlines() if line.strip().startswith("1.")]
    assert tops == ["red", "blue", "green"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_classify_builds_once_then_reuses_and_force_rebuilds(tmp_path, language):
    model = color_classifier(tmp_path / "c.onnx")
    args = [PHOTOS[1], "--model", model, "--engine", tmp_path / "c.engine"]
    assert "engine: built" in run(language, "classify", *args, cwd=tmp_path).stdout
    assert "engine: loaded" in run(language, "classify", *args, cwd=tmp_path).stdout
    assert "engine: built" in run(language, "classify", *args, "--force", cwd=tmp_path).stdout
    # Another profile (1..4 instead of 1..8) is another engine: rebuilt with the reason, then reused.
    rebuilt = run(language, "classify", *args, "--max-batch", "4", cwd=tmp_path).stdout
    assert "engine: rebuilt" in rebuilt and "build options changed: profile" in rebuilt
    assert "engine: loaded" in run(language, "classify", *args, "--max-batch", "4", cwd=tmp_path).stdout


@pytest.mark.parametrize("language", LANGUAGES)
def test_classify_errors(tmp_path, language):
    def error(*args) -> str:
        return error_line(language, "classify", *args, cwd=tmp_path)

    model = color_classifier(tmp_path / "c.onnx")
    assert "missing.onnx' does not exist" in error(PHOTOS[0], "--model", tmp_path / "missing.onnx")
    assert "nope.png' does not exist" in error(tmp_path / "nope.png", "--model", model)
    (tmp_path / "text.png").write_text("not a picture")
    assert "cannot read image" in error(tmp_path / "text.png", "--model", model)
    assert "3 images, but --max-batch is 2" in error(*PHOTOS, "--model", model, "--max-batch", "2")
    assert "label file" in error(PHOTOS[0], "--model", model, "--labels", tmp_path / "none.txt")
    static = color_classifier(tmp_path / "static.onnx", batch=2)
    assert "takes exactly 2 per batch" in error(*PHOTOS, "--model", static)
    usage = run(language, "classify", PHOTOS[0], "--top", "0", cwd=tmp_path)
    assert usage.returncode == 2


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channels, kind, batch", [(2, "unet", 1), (1, "isnet", 1), (2, "unet", "N")],
                         ids=["unet", "isnet", "unet-dynamic-batch"])
def test_segment_writes_mask_and_cutout(tmp_path, channels, kind, batch, language):
    photo = half_photo(tmp_path / "half.png")
    model = segmenter(tmp_path / f"seg{channels}.onnx", channels, batch)
    result = run(language, "segment", tmp_path / "half.png", "--model", model, "--out", tmp_path / "cut.png", "--mask",
                 tmp_path / "mask.png", cwd=tmp_path)
    assert result.returncode == 0 and f"({kind})" in result.stdout
    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    cutout = Image.open(tmp_path / "cut.png")
    assert mask.shape == (30, 40) and cutout.mode == "RGBA" and cutout.size == (40, 30)
    assert mask[:, :15].mean() > 200 and mask[:, 25:].mean() < 50
    rgba = np.asarray(cutout)
    assert np.array_equal(rgba[..., 3], mask) and np.array_equal(rgba[..., :3], photo)


@pytest.mark.parametrize("language", LANGUAGES)
def test_segment_batches_photos_as_the_engine_allows(tmp_path, language):
    photos = PHOTOS + [opencv_photo("fruits.jpg", tmp_path)]  # a JPEG too
    dynamic = segmenter(tmp_path / "dynamic.onnx", 2, "N")
    result = run(language, "segment", *photos, "--model", dynamic, "--max-batch", "3", "--out-dir", tmp_path / "out",
                 cwd=tmp_path)
    assert result.returncode == 0
    assert "ran batch of 3" in result.stdout and "ran batch of 1" in result.stdout
    for photo in photos:
        assert Image.open(tmp_path / "out" / f"{photo.stem}_mask.png").size == Image.open(photo).size
        assert Image.open(tmp_path / "out" / f"{photo.stem}_cutout.png").mode == "RGBA"
    static = segmenter(tmp_path / "static.onnx", 1)
    result = run(language, "segment", *photos[:2], "--model", static, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.count("ran batch of 1 ") == 2
    assert (tmp_path / "astronaut_mask.png").is_file() and (tmp_path / "chelsea_cutout.png").is_file()


@pytest.mark.parametrize("language", LANGUAGES)
def test_segment_reuses_its_engine(tmp_path, language):
    model = segmenter(tmp_path / "seg.onnx", 1)
    assert "engine: built seg.engine" in run(language, "segment", PHOTOS[2], "--model", model, cwd=tmp_path).stdout
    assert "engine: loaded seg.engine" in run(language, "segment", PHOTOS[2], "--model", model, cwd=tmp_path).stdout
    forced = run(language, "segment", PHOTOS[2], "--model", model, "--force", cwd=tmp_path).stdout
    assert "engine: built seg.engine (force)" in forced


@pytest.mark.parametrize("language", LANGUAGES)
def test_segment_errors(tmp_path, language):
    def error(*args) -> str:
        return error_line(language, "segment", *args, cwd=tmp_path)

    classifier = save(classifier_graph(batch=1), tmp_path / "classifier.onnx")
    assert "must be [N, 3, H, W]" in error(PHOTOS[0], "--model", classifier)
    model = segmenter(tmp_path / "seg.onnx", 2)
    assert "use --out-dir" in error(*PHOTOS[:2], "--model", model, "--mask", tmp_path / "m.png")
    assert "nope.png' does not exist" in error(tmp_path / "nope.png", "--model", model)
    assert "missing.onnx' does not exist" in error(PHOTOS[0], "--model", tmp_path / "missing.onnx")
    assert "one channel" in error(PHOTOS[0], "--model", segmenter(tmp_path / "one.onnx", 1), "--kind", "unet")
    assert run(language, "segment", PHOTOS[0], "--kind", "nope", cwd=tmp_path).returncode == 2


def test_classify_cpp_and_python_agree_on_one_engine(tmp_path):
    """C++ builds the engine, Python loads it; same photos: same top-5 lines and bit-identical logits."""
    model = save(classifier_graph(size=224, classes=10), tmp_path / "classifier.onnx")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"label{i}" for i in range(10)))
    args = [*PHOTOS, "--model", model, "--labels", labels, "--engine", tmp_path / "c.engine"]
    cpp = run("cpp", "classify", *args, "--save-outputs", tmp_path / "cpp", cwd=tmp_path)
    py = run("python", "classify", *args, "--save-outputs", tmp_path / "py", cwd=tmp_path)
    assert cpp.returncode == 0 and py.returncode == 0
    assert "engine: built" in cpp.stdout and "engine: loaded" in py.stdout
    assert top5_blocks(cpp.stdout) == top5_blocks(py.stdout) and len(top5_blocks(cpp.stdout)) == 3
    assert same_npy(tmp_path / "cpp", tmp_path / "py") == sorted(f"{p.stem}.{name}.npy" for p in PHOTOS
                                                                  for name in ("logits", "features"))


@pytest.mark.parametrize("channels, batch", [(2, "N"), (1, 1)], ids=["unet", "isnet"])
def test_segment_cpp_and_python_agree_on_one_engine(tmp_path, channels, batch):
    """Python builds, C++ loads; same masks (pixel for pixel), same cut-outs and bit-identical raw outputs."""
    model = segmenter(tmp_path / "seg.onnx", channels, batch)
    outputs = {}
    for language in ("python", "cpp"):
        result = run(language, "segment", *PHOTOS, "--model", model, "--engine", tmp_path / "seg.engine",
                     "--out-dir", tmp_path / language, "--save-outputs", tmp_path / f"{language}_npy", cwd=tmp_path)
        assert result.returncode == 0
        outputs[language] = result.stdout
    assert "engine: built" in outputs["python"] and "engine: loaded" in outputs["cpp"]
    # The same lines apart from timings: "wrote ... foreground 12.3%" per photo.
    assert [line for line in outputs["python"].splitlines() if line.startswith("wrote")] == \
        [line.replace(str(tmp_path / "cpp"), str(tmp_path / "python"))
         for line in outputs["cpp"].splitlines() if line.startswith("wrote")]
    for photo in PHOTOS:
        for suffix in ("mask", "cutout"):
            py = np.asarray(Image.open(tmp_path / "python" / f"{photo.stem}_{suffix}.png"))
            cpp = np.asarray(Image.open(tmp_path / "cpp" / f"{photo.stem}_{suffix}.png"))
            assert py.shape == cpp.shape and np.array_equal(py, cpp), f"{photo.stem}_{suffix}"
    same_npy(tmp_path / "python_npy", tmp_path / "cpp_npy")
