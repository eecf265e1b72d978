"""Shared fixtures of the Python tests: small ONNX models made with onnx.helper (fast, no torch), and their engines.

Environment (set by ctest, see tests/CMakeLists.txt): PYTHONPATH has the built module (<build>/python),
KILN_NPY_RUN the C++ helper tests/python/npy_run.cpp, KILN_BUILD_DIR the build tree (install test).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kiln

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "python"
SKIMAGE_DATA = Path("/usr/lib/python3/dist-packages/skimage/data")

INPUT, LOGITS, FEATURES = "input", "logits", "features"
CLASSES, CHANNELS, SIZE = 5, 8, 8
PROFILE = ((1, 3, SIZE, SIZE), (2, 3, SIZE, SIZE), (4, 3, SIZE, SIZE))


def save(graph: onnx.GraphProto, path: Path, opset: int = 17) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def classifier_graph(batch="N", size=SIZE, classes=CLASSES, seed=0) -> onnx.GraphProto:
    """input [batch, 3, size, size] -> Conv 3x3 (8) -> Relu -> GlobalAveragePool -> Flatten = 'features' [batch, 8]
    -> Gemm = 'logits' [batch, classes]."""
    rng = np.random.default_rng(seed)
    weights = [
        numpy_helper.from_array(rng.standard_normal((CHANNELS, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(CHANNELS).astype(np.float32), "b"),
        numpy_helper.from_array(rng.standard_normal((classes, CHANNELS)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(rng.standard_normal(classes).astype(np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", [INPUT, "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], [FEATURES]),
        helper.make_node("Gemm", [FEATURES, "fc_w", "fc_b"], [LOGITS], transB=1),
    ]
    return helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [batch, 3, size, size])],
        [
            helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, [batch, classes]),
            helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, [batch, CHANNELS]),
        ],
        weights,
    )


def parse_for_cpu(onnx_path: Path, profile=PROFILE, logger=None):
    """(builder, network, config): the model parsed, the config for the CPU backend with `profile` for INPUT (none
    when None)."""
    builder = kiln.Builder(logger)
    network = builder.create_network()
    kiln.OnnxParser(network, logger).parse_from_file(onnx_path)
    config = builder.create_builder_config()
    config.backend = kiln.Backend.CPU
    if profile is not None:
        p = builder.create_optimization_profile()
        p.set_shape(INPUT, *profile)
        config.add_optimization_profile(p)
    return builder, network, config


def build_bytes(onnx_path: Path, profile=PROFILE, logger=None) -> kiln.HostMemory:
    """A CPU engine (the tests bind host memory with set_tensor_address, which CUDA engines refuse)."""
    builder, network, config = parse_for_cpu(onnx_path, profile, logger)
    return builder.build_serialized_network(network, config)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def classifier_onnx(model_dir) -> Path:
    """Dynamic batch, profile PROFILE."""
    return save(classifier_graph(), model_dir / "classifier.onnx")


@pytest.fixture(scope="session")
def engine_bytes(classifier_onnx) -> bytes:
    return bytes(build_bytes(classifier_onnx))


@pytest.fixture(scope="session")
def engine_file(engine_bytes, model_dir) -> Path:
    path = model_dir / "classifier.engine"
    path.write_bytes(engine_bytes)
    return path


@pytest.fixture(scope="session")
def engine(engine_bytes) -> kiln.Engine:
    return kiln.Runtime().deserialize_cuda_engine(engine_bytes)


@pytest.fixture
def batch() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)


def env_path(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (run through ctest)")
    return Path(value)


def subprocess_env() -> dict:
    """The environment for a child Python that must import this same kiln (PYTHONPATH may be relative)."""
    env = os.environ.copy()
    package_parent = str(Path(kiln.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_parent, *filter(None, [env.get("PYTHONPATH")])])
    return env
