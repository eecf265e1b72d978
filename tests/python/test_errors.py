"""Every failure is a kiln.KilnError (a subclass per error code) carrying Kiln's one-line message."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import INPUT, PROFILE, SIZE, save
from onnx import TensorProto, helper

import kiln


def test_hierarchy():
    for cls in (kiln.InvalidArgumentError, kiln.InvalidModelError, kiln.UnsupportedError, kiln.NotFoundError,
                kiln.IoError, kiln.OutOfRangeError, kiln.InternalError):
        assert issubclass(cls, kiln.KilnError) and cls.__module__ == "kiln"
    assert issubclass(kiln.KilnError, Exception)


# The five error paths of the issue: missing file, bad engine, wrong input name, wrong dtype, shape outside profile.


def test_missing_onnx_file(tmp_path):
    network = kiln.Builder().create_network()
    missing = tmp_path / "missing.onnx"
    with pytest.raises(kiln.NotFoundError) as e:
        kiln.OnnxParser(network).parse_from_file(missing)
    assert str(e.value) == f"model file '{missing}' does not exist"
    assert e.value.code == kiln.ErrorCode.NOT_FOUND


def test_missing_engine_file(tmp_path):
    missing = tmp_path / "missing.engine"
    with pytest.raises(kiln.NotFoundError, match=f"engine file '{missing}' cannot be opened: No such file"):
        kiln.Runtime().load_engine_file(missing)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped"])
def test_bad_engine_bytes(engine_bytes, damage):
    data = {
        "garbage": b"not an engine at all" * 8,
        "truncated": engine_bytes[: len(engine_bytes) // 2],
        "flipped": engine_bytes[:-100] + bytes([engine_bytes[-100] ^ 0xFF]) + engine_bytes[-99:],
    }[damage]
    with pytest.raises(kiln.InvalidModelError) as e:
        kiln.Runtime().deserialize_cuda_engine(data)
    assert "engine file '<memory>'" in str(e.value) and "\n" not in str(e.value)


def test_bad_engine_file_names_the_file(tmp_path):
    path = tmp_path / "bad.engine"
    path.write_bytes(b"KILNENG" + b"\0" * 50)
    with pytest.raises(kiln.KilnError, match=f"engine file '{path}' has engine format version 0"):
        kiln.Runtime().load_engine_file(path)


def test_wrong_input_name(engine, batch):
    with pytest.raises(kiln.NotFoundError, match="'image' is not an input or output of the engine"):
        engine.create_execution_context().infer({"image": batch})
    with pytest.raises(kiln.NotFoundError, match="'image' is not an input"):
        engine.create_execution_context().set_input_shape("image", batch.shape)
    with pytest.raises(kiln.NotFoundError, match="'image'"):
        engine.get_tensor_dtype("image")


def test_output_given_as_input(engine, batch):
    with pytest.raises(kiln.InvalidArgumentError, match="'logits' is an output of the engine, not an input"):
        engine.create_execution_context().infer({"logits": batch})


def test_missing_input(engine):
    with pytest.raises(kiln.InvalidArgumentError, match="missing input 'input'"):
        engine.create_execution_context().infer({})


def test_wrong_dtype(engine, batch):
    with pytest.raises(kiln.InvalidArgumentError) as e:
        engine.create_execution_context().infer({INPUT: batch.astype(np.float64)})
    assert str(e.value) == ("input 'input' is float64, the engine expects float32: convert it first, "
                            "e.g. x.astype(numpy.float32)")


def test_shape_outside_profile(engine):
    too_big = np.zeros((5, 3, SIZE, SIZE), np.float32)
    with pytest.raises(kiln.OutOfRangeError) as e:
        engine.create_execution_context().infer({INPUT: too_big})
    assert str(e.value) == ("input 'input' shape 5x3x8x8 is outside optimization profile 0: "
                            "allowed [1x3x8x8, 4x3x8x8]")
    with pytest.raises(kiln.OutOfRangeError, match="shape 5x3x8x8 is outside optimization profile 0"):
        engine.create_execution_context().set_input_shape(INPUT, too_big.shape)


def test_wrong_rank_and_static_dim(engine):
    context = engine.create_execution_context()
    with pytest.raises(kiln.InvalidArgumentError, match="has rank 3, the engine expects rank 4"):
        context.set_input_shape(INPUT, (2, 3, SIZE))
    with pytest.raises(kiln.OutOfRangeError, match="2x4x8x8 is outside"):
        context.infer({INPUT: np.zeros((2, 4, SIZE, SIZE), np.float32)})


def test_dynamic_input_without_profile(classifier_onnx):
    builder = kiln.Builder(kiln.Logger(kiln.Logger.VERBOSE, callback=lambda s, m: None))
    network = builder.create_network()
    kiln.OnnxParser(network).parse_from_file(classifier_onnx)
    with pytest.raises(kiln.InvalidArgumentError, match="input 'input' has dynamic shape Nx3x8x8: add an "
                                                         "optimization profile"):
        builder.build_serialized_network(network, builder.create_builder_config())


def test_bad_profile(classifier_onnx):
    builder = kiln.Builder()
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT, PROFILE[2], PROFILE[1], PROFILE[0])
    with pytest.raises(kiln.InvalidArgumentError, match="min 4x3x8x8 <= opt 2x3x8x8 <= max 1x3x8x8 does not hold"):
        config.add_optimization_profile(profile)
    with pytest.raises(kiln.InvalidArgumentError, match="negative dim"):
        profile.set_shape(INPUT, (-1, 3, 8, 8), PROFILE[1], PROFILE[2])
    with pytest.raises(kiln.NotFoundError):
        builder.create_optimization_profile().get_shape(INPUT)


def test_unsupported_op_lists_the_node(model_dir):
    graph = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], name="frob1", domain="com.example")],
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = model_dir / "custom.onnx"
    import onnx

    onnx.save(model, str(path))
    errors = []
    logger = kiln.Logger(kiln.Logger.ERROR, callback=lambda s, m: errors.append(m))
    with pytest.raises(kiln.UnsupportedError, match=r"1 unsupported node\(s\):.*Frobnicate"):
        kiln.OnnxParser(kiln.Builder(logger).create_network(), logger).parse_from_file(path)
    assert any("Frobnicate" in m for m in errors)


def test_malformed_onnx(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07garbage\xff\xff")
    with pytest.raises(kiln.KilnError, match=str(path)):
        kiln.OnnxParser(kiln.Builder().create_network()).parse_from_file(path)


def test_empty_network_cannot_be_built():
    builder = kiln.Builder()
    with pytest.raises(kiln.InvalidArgumentError, match="the network is empty"):
        builder.build_serialized_network(builder.create_network(), builder.create_builder_config())


def test_cuda_backend_without_a_gpu_is_unsupported(classifier_onnx, batch):
    builder = kiln.Builder()
    network = builder.create_network()
    kiln.OnnxParser(network).parse_from_file(classifier_onnx)
    config = builder.create_builder_config()
    config.backend = kiln.Backend.CUDA
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT, *PROFILE)
    config.add_optimization_profile(profile)
    try:
        engine = builder.build_engine(network, config)
    except kiln.UnsupportedError as e:
        assert str(e).startswith("backend kCuda: ")  # no GPU here, or no CUDA in this build: says which
        return
    # A GPU is present: infer() takes host arrays on a CUDA engine too, and host addresses are refused by name.
    context = engine.create_execution_context()
    assert context.infer({INPUT: batch})["logits"].shape == (2, 5)
    context.set_input_shape(INPUT, batch.shape)
    context.set_tensor_address(INPUT, batch.ctypes.data)
    with pytest.raises(kiln.KilnError, match="'input' is bound to host memory"):
        context.execute_async_v3()


def test_non_utf8_bytes_in_a_message_do_not_break_the_error(tmp_path):
    odd = tmp_path / "caf\udce9.onnx"  # a file name that is not valid UTF-8 on disk
    with pytest.raises(kiln.NotFoundError, match="caf\ufffd"):
        kiln.OnnxParser(kiln.Builder().create_network()).parse_from_file(odd)


def test_build_engine_file_errors(classifier_onnx, tmp_path):
    builder = kiln.Builder()
    config = builder.create_builder_config()
    with pytest.raises(kiln.NotFoundError, match="no-such.onnx"):
        builder.build_engine_file(tmp_path / "no-such.onnx", config, tmp_path / "x.engine")
    not_an_engine = tmp_path / "notes.txt"
    not_an_engine.write_text("not an engine")
    with pytest.raises(kiln.InvalidArgumentError, match="refusing to overwrite"):
        builder.build_engine_file(classifier_onnx, config, not_an_engine)
    assert not_an_engine.read_text() == "not an engine"
