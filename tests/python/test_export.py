"""python -m kiln.export: torch.onnx.export, then Kiln builds the model and its outputs are compared with PyTorch's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest

import kiln
from conftest import subprocess_env

torch = pytest.importorskip("torch")
from kiln import export  # noqa: E402  (needs torch)


def test_cli_resnet18_dynamic_batch(tmp_path):
    onnx_path, engine_path = tmp_path / "resnet18.onnx", tmp_path / "resnet18.engine"
    result = subprocess.run(
        [sys.executable, "-m", "kiln.export", "resnet18", "--batch", "2", "--dynamic-batch", "--image-size", "64",
         "-o", str(onnx_path), "--engine", str(engine_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=subprocess_env())
    print(result.stdout, result.stderr)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("PASS: Kiln's outputs match PyTorch's")
    assert any(line.startswith("batch 2: output 'output' [2, 1000]") and line.endswith("s)") for line in lines)
    assert any(line.startswith("batch 1: output 'output' [1, 1000]") for line in lines)
    model = onnx.load(str(onnx_path))
    assert model.opset_import[0].version == 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 64, 64]
    engine = kiln.Runtime().load_engine_file(engine_path)
    assert engine.get_tensor_profile_shape("input", 0) == [(1, 3, 64, 64), (2, 3, 64, 64), (4, 3, 64, 64)]


def test_api_two_outputs_static_batch(tmp_path):
    from torch_models import two_heads

    lines = []
    report = export.export_and_check(two_heads(), tmp_path / "two.onnx", batch=3, image_size=16,
                                     progress=lines.append)
    assert report.passed, lines
    (check,) = report.checks
    assert check.batch == 3 and [o.name for o in check.outputs] == ["output_0", "output_1"]
    assert [o.shape for o in check.outputs] == [(3, 10), (3, 16)]
    assert all(o.max_rel <= 1e-4 for o in check.outputs)
    assert report.engine.get_tensor_shape("input") == (3, 3, 16, 16)


def test_api_names_and_no_constant_folding(tmp_path):
    from torch_models import two_heads

    path = export.export(two_heads(), tmp_path / "named.onnx", batch=1, image_size=8, input_names=("image",),
                         output_names=("logits", "features"), constant_folding=False, opset=13)
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["logits", "features"]
    assert model.opset_import[0].version == 13
    with pytest.raises(ValueError, match="the model has 2 outputs, 1 output names were given"):
        export.export(two_heads(), tmp_path / "bad.onnx", output_names=("only",), image_size=8)


def test_main_reports_fail_with_exit_1(tmp_path, capsys):
    # A tolerance no float computation meets: the tool must say FAIL and exit 1.
    code = export.main(["torch_models:two_heads", "--image-size", "16", "--rtol", "1e-30", "-o",
                        str(tmp_path / "t.onnx")])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL: Kiln's outputs differ" in out and ": FAIL (" in out


def test_main_unknown_model_exits_2(tmp_path, capsys):
    code = export.main(["no_such_net", "-o", str(tmp_path / "x.onnx")])
    assert code == 2 and "'no_such_net' is not a torchvision model" in capsys.readouterr().err


def test_compare_measures_error(tmp_path):
    from torch_models import two_heads

    model = two_heads()
    path = export.export(model, tmp_path / "m.onnx", batch=2, image_size=8)
    engine = export.build(path)
    example = export.dummy_input(2, 8)
    check = export.compare(engine, model, example)
    assert check.passed and check.batch == 2
    # The same comparison against a model whose weights moved must fail and show the error.
    with torch.no_grad():
        model.head.bias += 1.0
    moved = export.compare(engine, model, example)
    assert not moved.passed and np.isclose(moved.outputs[0].max_abs, 1.0, atol=1e-4)
