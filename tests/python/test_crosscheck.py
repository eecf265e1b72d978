"""Python and C++ give bit-identical outputs for the same engine file and inputs.

The C++ side is tests/python/npy_run.cpp (kiln-npy-run), which runs the engine through include/kiln/kiln.h with
ExecutionContext::infer or with setTensorAddress + enqueue and writes each output as .npy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import INPUT, env_path

import kiln


def run_cpp(api: str, engine_file: Path, inputs: dict, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    args = []
    for name, array in inputs.items():
        path = out_dir / f"in_{name}.npy"
        np.save(path, array)
        args.append(f"{name}={path}")
    subprocess.run([str(env_path("KILN_NPY_RUN")), "--api", api, str(engine_file), str(out_dir), *args], check=True)
    return {p.stem: np.load(p) for p in out_dir.glob("*.npy") if not p.stem.startswith("in_")}


def python_outputs(engine: kiln.Engine, inputs: dict) -> tuple[dict, dict]:
    """(infer's outputs, execute_async_v3's outputs on numpy addresses) for the same inputs."""
    by_infer = engine.create_execution_context().infer(inputs)
    context = engine.create_execution_context()
    by_address = {name: np.empty_like(a) for name, a in by_infer.items()}
    for name, array in {**inputs, **by_address}.items():
        if name in inputs:
            context.set_input_shape(name, array.shape)
        context.set_tensor_address(name, array.ctypes.data, array.nbytes)
    context.execute_async_v3(0)
    return by_infer, by_address


def assert_bit_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), f"output '{name}' differs"


@pytest.mark.parametrize("batch_size", [1, 3])
def test_classifier_python_equals_cpp(engine_file, tmp_path, batch_size):
    inputs = {INPUT: np.random.default_rng(batch_size).standard_normal((batch_size, 3, 8, 8)).astype(np.float32)}
    engine = kiln.Runtime().load_engine_file(engine_file)
    by_infer, by_address = python_outputs(engine, inputs)
    assert_bit_identical(by_infer, by_address)
    for api in ("infer", "enqueue"):
        assert_bit_identical(by_infer, run_cpp(api, engine_file, inputs, tmp_path / api))


def test_resnet50_python_equals_cpp(tmp_path):
    """A real model (random-weight ResNet-50 from tests/models/prepare_models.sh) and its reference input."""
    models = Path(os.environ.get("KILN_MODELS_DIR", Path(__file__).resolve().parents[2] / ".cache" / "models"))
    model = models / "resnet50" / "model.onnx"
    if not model.is_file():
        pytest.skip(f"{model} is missing (tests/models/prepare_models.sh)")
    import onnx
    from onnx import numpy_helper

    reference = model.parent / "test_data_set_0"
    builder = kiln.Builder()
    network = builder.create_network()
    kiln.OnnxParser(network).parse_from_file(model)
    name = network.get_input(0).name
    inputs = {name: numpy_helper.to_array(onnx.load_tensor(str(reference / "input_0.pb")))}
    config = builder.create_builder_config()
    config.backend = kiln.Backend.CPU  # the C++ helper binds host memory
    profile = builder.create_optimization_profile()
    shape = inputs[name].shape
    profile.set_shape(name, shape, shape, shape)
    config.add_optimization_profile(profile)
    engine_file = tmp_path / "resnet50.engine"
    engine_file.write_bytes(builder.build_serialized_network(network, config))
    engine = kiln.Runtime().load_engine_file(engine_file)
    by_infer, by_address = python_outputs(engine, inputs)
    assert_bit_identical(by_infer, by_address)
    assert_bit_identical(by_infer, run_cpp("enqueue", engine_file, inputs, tmp_path / "cpp"))
    expected = numpy_helper.to_array(onnx.load_tensor(str(reference / "output_0.pb")))
    got = next(iter(by_infer.values()))
    assert np.abs(got - expected).max() / np.abs(expected).max() <= 1e-4  # and both match onnxruntime
