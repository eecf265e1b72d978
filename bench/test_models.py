"""What needs torch: the benchmark's models (BERT-base's and ResNet-50's sizes and FLOP counts, ResNet-50 against
torchvision's, the two attention paths, the UNet's widths) and the suite's failure paths end to end (a Kiln build
error, no ONNX file), and the q/k/v merge on the suite's own BERT export. ctest: bench.unit (label bench); skipped
without torch."""

import inspect
import os
import sys

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import workloads  # noqa: E402


def test_flop_count_formulas():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ConvTranspose2d(8, 4, 2, stride=2),
                            torch.nn.Flatten(), torch.nn.Linear(4 * 20 * 20, 10))
    _, flops = models.countFlops(m, torch.randn(2, 3, 10, 10))
    conv = 2 * (2 * 8 * 10 * 10) * 3 * 9
    convT = 2 * (2 * 8 * 10 * 10) * 4 * 2 * 2
    assert flops == conv + convT + 2 * 2 * 10 * 1600


def test_our_resnet50_is_torchvisions():
    tv = pytest.importorskip("torchvision")
    ours = {k: v.shape for k, v in models.ResNet50().state_dict().items()}
    theirs = {k: v.shape for k, v in tv.models.resnet50(weights=None).state_dict().items()}
    assert ours == theirs
    _, flops = models.countFlops(models.ResNet50().eval(), torch.randn(1, 3, 224, 224))
    assert 8.1e9 < flops < 8.3e9  # 4.1 GMAC


def test_bert_base_size_and_flops():
    m = models.BertBase().eval()
    assert sum(p.numel() for p in m.parameters()) == 108_891_648  # BERT-base without its pooler
    _, flops = models.countFlops(m, torch.randint(0, 30522, (1, 128)))
    per_layer = 4 * 2 * 128 * 768 * 768 + 2 * 2 * 128 * 768 * 3072 + 2 * 2 * 128 * 128 * 768
    assert flops == 12 * per_layer  # 22.3 GFLOP


def test_bert_attention_paths_agree():
    if not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        pytest.skip(f"torch {torch.__version__} has no scaled_dot_product_attention")
    spec = workloads.specs("dry")["bert"]
    m, _ = models.build(spec, 0, "cpu")
    x = models.makeInput(spec, 2, 1)
    with torch.no_grad():
        explicit = m(x)
        m.setSdpa(True)
        fused = m(x)
    assert torch.allclose(explicit, fused, rtol=1e-4, atol=1e-5)


def test_unet_is_the_seeds_at_width_64():
    spec = workloads.specs("full")["unet"]
    m = models.UNet(inChannels=3, classes=2, levels=4, **spec.options)
    widths = [block[0].out_channels for block in m.down] + [m.bottleneck[0].out_channels]
    assert widths == [64, 128, 256, 512, 1024]
    # Fully convolutional: FLOPs scale with the pixels, so 64x64 gives 512x512's count over 64.
    _, flops = models.countFlops(m.eval(), torch.randn(1, 3, 64, 64))
    assert 300e9 < flops * 64 < 400e9


class _Scale(torch.nn.Module):
    """A model whose ops run in FP16 on the CPU (torch 1.13 has no CPU FP16 convolution, matmul, LayerNorm or ReLU)."""

    def forward(self, x):
        return (x * 1.001 + 0.5) * x


def test_pytorchs_own_error_at_each_reduced_precision(tmp_path):
    """worker.py's export computes PyTorch's error at the workload's reduced precisions on the reference input: a
    measured FP16 error where the ops run in FP16, the reason where they do not, and TF32 only on a GPU."""
    import numpy as np
    import worker
    w = worker.Worker("dry", 0, "cpu", str(tmp_path))
    spec = workloads.ModelSpec("tiny", "tiny", "x", ["y"], (3, 5, 7), "image", ["fp32", "tf32", "fp16"], [1])
    x = models.makeInput(spec, 1, 3)
    ref = _Scale()(x).numpy()
    peers = w._peerErrors(_Scale(), spec, x, [ref])
    assert set(peers) == {"tf32", "fp16"}  # FP32 is the reference itself
    assert peers["tf32"] == {"ok": False, "unavailable": "TF32 is a CUDA mode: on the cpu, a TF32 run is the FP32 "
                                                         "reference itself"}
    fp16 = peers["fp16"]
    assert fp16["ok"] and fp16["setup"] == ".half() of weights and inputs"
    want = np.abs(_Scale()(x.half()).float().numpy() - ref).max() / np.abs(ref).max()
    assert fp16["max_rel_err"] == fp16["outputs"]["y"] == pytest.approx(want) and 1e-5 < want < 1e-2

    resnet = w.specs["resnet50"]
    model, _ = models.build(resnet, 0, "cpu")
    x = models.makeInput(resnet, 1, 7)
    peers = w._peerErrors(model, resnet, x, [np.zeros((1, 1000), np.float32)])
    if torch.__version__.startswith("1."):
        assert not peers["fp16"]["ok"] and "not implemented for 'Half'" in peers["fp16"]["unavailable"]
    assert next(model.parameters()).dtype == torch.float32  # the exported weights are left as they were


def test_a_kiln_failure_is_reported_and_the_suite_goes_on(tmp_path, capsys):
    """A dry run where `kiln build` fails on BERT (as on an unsupported op): BERT's rows carry the one-line error,
    the UNet's rows still run, and the dry run exits 1."""
    real = os.environ.get("KILN")
    if not real or not os.path.isfile(real):
        pytest.skip("set KILN to the kiln executable (ctest does)")
    import glob
    import json
    import suite
    fake = tmp_path / "kiln"
    fake.write_text(f"""#!/bin/sh
case "$1 $2" in "build "*bert.onnx) echo "kiln: error: node 7 (Foo 'x'): no kernel" >&2; exit 3;; esac
exec {real} "$@"
""")
    fake.chmod(0o755)
    code = suite.main(["--dry-run", "--kiln", str(fake), "--only", "bert,unet", "--out", "",
                       "--results-dir", str(tmp_path / "results")])
    assert code == 1
    out = capsys.readouterr()
    assert "[bert fp16 b1] kiln build: kiln: error: node 7 (Foo 'x'): no kernel" in out.out
    assert "bert fp16 b1 kiln build: kiln: error: node 7" in out.err
    (path,) = glob.glob(str(tmp_path / "results" / "*.json"))
    rows = {(r["workload"], r["batch"]): r for r in json.load(open(path))["rows"]}
    assert set(rows) == {("bert", 1), ("bert", 2), ("unet", 1)}
    for b in (1, 2):
        assert rows[("bert", b)]["kiln"]["build"]["error"] == "kiln: error: node 7 (Foo 'x'): no kernel"
        assert "bench" not in rows[("bert", b)]["kiln"] and rows[("bert", b)]["eager"]["ok"]
    unet = rows[("unet", 1)]
    assert unet["kiln"]["bench"]["ok"] and unet["kiln"]["check"]["within"] and unet["ratios"]["kiln_vs_eager"]


def test_no_onnx_file_still_times_pytorch(tmp_path, capsys):
    """No exporter works (torch 1.13 has no dynamo exporter): PyTorch's columns are still measured, Kiln's row says
    why it has nothing to build."""
    real = os.environ.get("KILN")
    if not real or not os.path.isfile(real):
        pytest.skip("set KILN to the kiln executable (ctest does)")
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        pytest.skip("this torch has the dynamo exporter: exporting would not fail")
    import suite
    code = suite.main(["--dry-run", "--kiln", real, "--only", "unet", "--exporter", "dynamo", "--out", "",
                       "--results-dir", str(tmp_path)])
    assert code == 1
    out = capsys.readouterr().out
    assert "[unet fp16 b1] kiln build: no ONNX file: dynamo (opset 17): RuntimeError: torch" in out
    assert "dynamo (opset 18)" in out and "ONNX export: unet FAILED" in out
    row = next(line for line in out.splitlines() if line.startswith("unet "))
    assert " ms " in row and row.split()[3] != "FAIL"  # eager measured


def test_kiln_merges_qkv_on_the_bench_bert_export(tmp_path):
    """The suite's own BERT export (worker.py's torchscript path: dynamic batch, opset 17) built by Kiln on the CPU:
    Kiln's shape inference gets the hidden state's rank past the position Slice and the head Reshapes (ONNX's stops
    at both), so each layer's q/k/v projections merge into one GEMM and the attention still fuses; the engine's
    output at another batch size is the PyTorch model's."""
    real = os.environ.get("KILN")
    if not real or not os.path.isfile(real):
        pytest.skip("set KILN to the kiln executable (ctest does)")
    import subprocess
    import numpy as np
    import worker
    w = worker.Worker("dry", 0, "cpu", str(tmp_path))
    spec = w.specs["bert"]
    model, _ = models.build(spec, 0, "cpu")
    onnx, engine, x, out = (str(tmp_path / f) for f in ("bert.onnx", "bert.engine", "x.npy", "out"))
    exported = w._exportOnnx(model, spec, onnx, "torchscript", 17)
    assert exported["exporter"] == "torchscript", exported
    seq = spec.itemShape[0]
    proc = subprocess.run([real, "build", onnx, "-o", engine, "--backend", "cpu", "--min-shapes", f"input_ids:1x{seq}",
                           "--opt-shapes", f"input_ids:2x{seq}", "--max-shapes", f"input_ids:4x{seq}", "-v"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    layers = spec.options["layers"]
    assert f"matmul-merge: merged {3 * layers} MatMul into {layers}" in proc.stderr
    assert f"attention-fusion: fused {8 * layers} nodes into {layers} Attention" in proc.stderr
    ids = models.makeInput(spec, 3, 5)
    np.save(x, ids.numpy())
    proc = subprocess.run([real, "infer", engine, "--input", f"input_ids:{x}", "--save-outputs", out],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = np.load(os.path.join(out, "output.last_hidden_state.npy"))
    with torch.no_grad():
        want = model(ids).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
