"""Acceptance checks of the `kiln` command on real models (issue 4), run by ctest with the `models` label.

  cli_acceptance.py isnet --kiln build/kiln --models .cache/models --npm .cache/npm --work DIR
      `kiln infer` on two real photos with the ISNet engine writes two mask PNGs (and cut-outs) whose float masks
      match onnxruntime-node's within 1e-3, and whose PNGs are those masks rendered (resized to the photo, x255).
  cli_acceptance.py trtexec-guide --kiln build/kiln --models .cache/models --work DIR
      `kiln exec` runs the command line of NVIDIA's benchmarking guide unchanged and prints the summary block.

Exit code 77 (ctest: skipped) when a model or photo is absent.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import images  # noqa: E402  (tests/models/images.py: the preprocessing the reference data was made with)

SKIP = 77
ISNET_SIZE = 1024


def kiln(binary: Path, *args: str, cwd: Path = None) -> str:
    run = subprocess.run([str(binary), *args], capture_output=True, text=True, cwd=cwd)
    if run.returncode != 0:
        raise SystemExit(f"kiln {' '.join(args)} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    return run.stdout


def ortIsnet(npm: Path, model: Path, photo: Path, work: Path) -> np.ndarray:
    """onnxruntime-node's 'output' for the photo, preprocessed as IMG.LY does: RGB, (x - 128) / 256."""
    x = images.toChw(images.resize(images.loadRgb(photo), ISNET_SIZE, ISNET_SIZE), 128.0, 256.0, scale=1.0)[None]
    io = work / f"ort_{photo.stem}"
    io.mkdir(parents=True, exist_ok=True)
    (io / "input_0.bin").write_bytes(np.ascontiguousarray(x).tobytes())
    spec = [{"name": "input", "dtype": "float32", "shape": list(x.shape), "file": "input_0.bin"}]
    (io / "inputs.json").write_text(json.dumps(spec))
    run = subprocess.run(["node", str(HERE / "run_ort.mjs"), str(npm), str(model), str(io)], capture_output=True,
                         text=True)
    if run.returncode != 0:
        raise SystemExit(f"onnxruntime-node failed:\n{run.stderr}")
    outputs = json.loads((io / "outputs.json").read_text())
    first = outputs[0]
    return np.fromfile(io / first["file"], dtype=first["dtype"]).reshape(first["shape"])


def checkIsnet(args) -> int:
    model = args.models / "isnet_fp32" / "model.onnx"
    photos = [Path("/usr/lib/python3/dist-packages/skimage/data/astronaut.png")]
    try:
        photos.append(images.opencvSample("messi5.jpg"))
    except (FileNotFoundError, subprocess.CalledProcessError):
        pass
    if not model.exists() or len(photos) != 2 or not all(p.exists() for p in photos):
        print(f"skipped: needs {model}, skimage's astronaut.png and opencv-doc's messi5.jpg")
        return SKIP
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    # JPEG decoders differ by a few levels (kiln reads with stb_image, Pillow with libjpeg-turbo), which moves the
    # masks by ~3e-2: both sides get the JPEG's pixels as Pillow decodes them, in a PNG.
    for i, photo in enumerate(photos):
        if photo.suffix.lower() in (".jpg", ".jpeg"):
            photos[i] = work / (photo.stem + ".png")
            Image.open(photo).convert("RGB").save(photos[i])
    engine = work / "isnet.engine"
    kiln(args.kiln, "build", "-q", str(model), "-o", str(engine))
    out = kiln(args.kiln, "infer", str(engine), *map(str, photos), "--scale", "1", "--mean", "128", "--std", "256",
               "--outputs", "output", "--mask-dir", str(work / "masks"), "--cutout", "--save-outputs",
               str(work / "out"))
    print(out)
    worst = 0.0
    for photo in photos:
        got = np.load(work / "out" / f"{photo.stem}.output.npy")
        if photo.name == "astronaut.png":
            # tests/models/prepare_models.py made this reference from the same photo and preprocessing.
            t = onnx.TensorProto()
            t.ParseFromString((model.parent / "test_data_set_0" / "output_0.pb").read_bytes())
            ref = numpy_helper.to_array(t)
        else:
            ref = ortIsnet(args.npm, model, photo, work)
        err = float(np.abs(got - ref).max())
        worst = max(worst, err)
        # The PNG is the mask resized to the photo (Pillow's bilinear on float, as kiln does) and scaled to 0..255.
        w, h = Image.open(photo).size
        png = np.asarray(Image.open(work / "masks" / f"{photo.stem}_mask.png"), dtype=np.int32)
        want = np.asarray(Image.fromarray(ref[0, 0].astype(np.float32), "F").resize((w, h), Image.BILINEAR))
        want = np.rint(np.clip(want, 0, 1) * 255).astype(np.int32)
        pngErr = int(np.abs(png - want).max())
        cutout = Image.open(work / "masks" / f"{photo.stem}_cutout.png")
        fg = float((png > 127).mean())
        print(f"{photo.name}: max |kiln - ort| = {err:.3g}, mask PNG {png.shape[1]}x{png.shape[0]} within "
              f"{pngErr}/255 of ORT's, foreground {fg:.1%}, cut-out {cutout.size} {cutout.mode}")
        if err > 1e-3 or png.shape != (h, w) or pngErr > 1 or cutout.mode != "RGBA" or not 0.05 < fg < 0.95:
            print("FAIL")
            return 1
    print(f"PASS: worst max |kiln - ort| = {worst:.3g} (limit 1e-3)")
    return 0


def checkTrtexecGuide(args) -> int:
    model = args.models / "resnet50" / "model.onnx"
    if not model.exists():
        print(f"skipped: needs {model}")
        return SKIP
    args.work.mkdir(parents=True, exist_ok=True)
    link = args.work / "resnet50.onnx"
    if not link.exists():
        link.symlink_to(model)
    # Copied from NVIDIA's "Performance benchmarking using trtexec" guide, unchanged.
    line = "--onnx=resnet50.onnx --shapes=input:4x3x224x224 --fp16 --noDataTransfers --useCudaGraph --useSpinWait"
    out = kiln(args.kiln, "exec", *line.split(), cwd=args.work)
    print(out)
    for needed in ("=== Performance summary ===", "Throughput: ", "Latency: min = ", "&&&& PASSED"):
        if needed not in out:
            print(f"FAIL: no '{needed}'")
            return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check", choices=["isnet", "trtexec-guide"])
    parser.add_argument("--kiln", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--npm", type=Path, default=Path(".cache/npm"))
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    return checkIsnet(args) if args.check == "isnet" else checkTrtexecGuide(args)


if __name__ == "__main__":
    sys.exit(main())
