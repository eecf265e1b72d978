"""NetworkDefinition.mark_output and BuilderConfig.set_layer_precision from Python (CPU engines: the numbers of
FP16 lowering show on the GPU only, so these check what is built and raised)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FEATURES, INPUT, LOGITS, parse_for_cpu

import kiln


def test_mark_output_adds_the_value_before_the_relu(classifier_onnx):
    builder, network, config = parse_for_cpu(classifier_onnx)
    names = network.computed_tensor_names
    assert names[:2] == ["conv", "relu"] and LOGITS in names and FEATURES in names
    network.mark_output("conv")
    assert network.num_outputs == 3 and network.get_output(2).name == "conv"
    engine = builder.build_engine(network, config)
    batch = np.random.default_rng(3).standard_normal((2, 3, 8, 8)).astype(np.float32)
    outputs = engine.create_execution_context().infer({INPUT: batch})
    conv = outputs["conv"]
    assert conv.shape == (2, 8, 8, 8) and conv.dtype == np.float32
    assert (conv < 0).any(), "the marked Conv output holds the value before the fused-away Relu"


def test_mark_output_errors(classifier_onnx):
    _, network, _ = parse_for_cpu(classifier_onnx)
    with pytest.raises(kiln.NotFoundError, match="'nope'"):
        network.mark_output("nope")
    with pytest.raises(kiln.InvalidArgumentError, match="network input"):
        network.mark_output(INPUT)
    with pytest.raises(kiln.InvalidArgumentError, match="weight"):
        network.mark_output("w")
    with pytest.raises(kiln.InvalidArgumentError, match="already an output"):
        network.mark_output(LOGITS)


def test_set_layer_precision(classifier_onnx):
    builder, network, config = parse_for_cpu(classifier_onnx)
    config.set_layer_precision("relu", "fp32")  # the Relu node is unnamed: matched by its output's name
    config.set_layer_precision("op:Gemm", np.float16)
    config.set_layer_precision("co*", "bf16")
    assert config.get_layer_precisions() == [("relu", "fp32"), ("op:Gemm", "fp16"), ("co*", "bf16")]
    config.set_flag(kiln.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    assert builder.build_engine(network, config).num_io_tensors == 3
    with pytest.raises(kiln.InvalidArgumentError, match="not fp32, fp16 or bf16"):
        config.set_layer_precision("relu", "int8")
    with pytest.raises(kiln.InvalidArgumentError, match="int8 is not a layer precision"):
        config.set_layer_precision("relu", np.int8)
    config.set_layer_precision("*Softmax*", "fp32")
    with pytest.raises(kiln.NotFoundError, match=r"'\*Softmax\*' matches no node"):
        builder.build_engine(network, config)
    config.clear_layer_precisions()
    assert config.get_layer_precisions() == []


def test_accuracy_guard_keeps_a_cancelling_layer_in_fp32(tmp_path):
    """FP16 emulated on the CPU: (x + 1000) - 1000 loses x's low bits in FP16; the guard keeps it in FP32."""
    import onnx
    from onnx import helper

    big = helper.make_tensor("big", onnx.TensorProto.FLOAT, [1], [1000.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "big"], ["s"], name="shift"),
         helper.make_node("Sub", ["s", "big"], ["d"], name="unshift"),
         helper.make_node("Relu", ["d"], ["y"], name="relu")],
        "cancel", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 64])], [big])
    path = tmp_path / "cancel.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    builder, network, config = parse_for_cpu(path, profile=None)
    config.set_flag(kiln.BuilderFlag.FP16)
    config.set_flag(kiln.BuilderFlag.EMULATE_REDUCED_PRECISION)
    x = np.sin(0.37 * np.arange(64, dtype=np.float32) + 2.0).reshape(1, 64).astype(np.float32)

    def error(engine):
        y = engine.create_execution_context().infer({"x": x})["y"]
        return np.abs(y - np.maximum(x, 0)).max() / np.abs(np.maximum(x, 0)).max()

    assert error(builder.build_engine(network, config)) > 5e-2
    config.set_accuracy_target(1e-2)
    assert config.accuracy_target == 1e-2
    calib = np.sin(0.37 * np.arange(64, dtype=np.float32)).reshape(1, 64).astype(np.float32)
    config.set_calibration_inputs([{"x": calib}])
    del calib  # the config holds its own copy
    assert error(builder.build_engine(network, config)) <= 1e-2
    with pytest.raises(kiln.InvalidArgumentError, match="accuracy target"):
        config.set_accuracy_target(-1.0)
