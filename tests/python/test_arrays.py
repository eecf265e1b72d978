"""How infer takes arrays: in place when it can, a copy when it must (documented), errors for the rest."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import INPUT, LOGITS, SIZE

import kiln
from kiln._kiln import _import_array

F32 = np.dtype(np.float32)


class ArrayInterface:
    """An object that exposes memory only through __array_interface__ (as e.g. PIL images and many C libraries)."""

    def __init__(self, array):
        self.array = array
        self.__array_interface__ = array.__array_interface__


class CudaArray:
    """What CuPy / Numba / torch CUDA tensors look like to a consumer (the pointer is never dereferenced)."""

    __cuda_array_interface__ = {"shape": (2, 3, SIZE, SIZE), "typestr": "<f4", "data": (0xDEAD0000, False),
                                "version": 3, "strides": None}


class DlpackOnGpu:
    def __dlpack_device__(self):
        return (2, 1)  # kDLCUDA, device 1

    def __dlpack__(self, stream=None):
        raise AssertionError("the capsule must not be taken for an engine that cannot use it")


def test_contiguous_numpy_is_used_in_place(batch):
    info = _import_array(batch, INPUT, F32)
    assert info["kind"] == "host" and info["protocol"] == "numpy"
    assert info["data"] == batch.ctypes.data and info["copied_because"] is None
    assert info["shape"] == batch.shape


def test_read_only_array_is_used_in_place(batch):
    frozen = batch.copy()
    frozen.flags.writeable = False
    assert _import_array(frozen, INPUT, F32)["data"] == frozen.ctypes.data


def test_array_interface_and_buffer_protocol_are_used_in_place(batch):
    info = _import_array(ArrayInterface(batch), INPUT, F32)
    assert info["protocol"] == "__array_interface__" and info["data"] == batch.ctypes.data
    raw = bytearray(batch.tobytes())
    info = _import_array(memoryview(raw).cast("f"), INPUT, F32)
    assert info["protocol"] == "buffer" and info["copied_because"] is None
    assert info["data"] == np.frombuffer(raw, np.float32).ctypes.data


def test_torch_cpu_tensor_is_used_in_place_through_dlpack(batch):
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(batch.copy())
    info = _import_array(tensor, INPUT, F32)
    assert info["protocol"] == "DLPack" and info["data"] == tensor.data_ptr() and info["copied_because"] is None


@pytest.mark.parametrize(
    "make, because",
    [
        (lambda b: b[:, :, ::2, ::2], "not C-contiguous"),
        (lambda b: np.asfortranarray(b), "not C-contiguous"),
        (lambda b: b.astype(">f4"), "byte order"),
        (lambda b: np.frombuffer(b"\0" + b.tobytes(), np.float32, count=b.size, offset=1).reshape(b.shape),
         "not aligned"),
    ],
    ids=["strided", "fortran", "big-endian", "unaligned"],
)
def test_copies_are_made_and_said(batch, make, because):
    arg = make(batch)
    info = _import_array(arg, INPUT, F32)
    assert because in info["copied_because"]
    assert info["data"] != arg.ctypes.data


def test_lists_are_converted_to_the_engine_dtype(engine, batch):
    info = _import_array(batch.tolist(), INPUT, F32)
    assert "Python list" in info["copied_because"]
    context = engine.create_execution_context()
    np.testing.assert_array_equal(context.infer({INPUT: batch.tolist()})[LOGITS], context.infer({INPUT: batch})[LOGITS])


def test_non_contiguous_and_byte_swapped_inputs_give_the_same_outputs(engine, batch):
    context = engine.create_execution_context()
    expected = context.infer({INPUT: batch})[LOGITS]
    wide = np.zeros((2, 3, SIZE, 2 * SIZE), np.float32)
    wide[..., ::2] = batch
    assert np.array_equal(context.infer({INPUT: wide[..., ::2]})[LOGITS], expected)
    assert np.array_equal(context.infer({INPUT: batch.astype(">f4")})[LOGITS], expected)
    channels_last = np.ascontiguousarray(batch.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert np.array_equal(context.infer({INPUT: channels_last})[LOGITS], expected)


def test_torch_tensor_input_gives_the_same_outputs(engine, batch):
    torch = pytest.importorskip("torch")
    context = engine.create_execution_context()
    expected = context.infer({INPUT: batch})[LOGITS]
    assert np.array_equal(context.infer({INPUT: torch.from_numpy(batch.copy())})[LOGITS], expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32])
def test_wrong_dtype_is_an_error_naming_the_tensor(engine, batch, dtype):
    with pytest.raises(kiln.InvalidArgumentError, match=r"input 'input' is \w+, the engine expects float32"):
        engine.create_execution_context().infer({INPUT: batch.astype(dtype)})


def test_dtype_without_kiln_type_is_an_error(engine, batch):
    with pytest.raises(kiln.InvalidArgumentError, match="numpy dtype complex64, which Kiln has no type for"):
        engine.create_execution_context().infer({INPUT: batch.astype(np.complex64)})


def test_cuda_array_interface_is_recognized_and_refused_by_infer(engine):
    info = _import_array(CudaArray(), INPUT, F32)
    assert info["kind"] == "device" and info["data"] == 0xDEAD0000 and info["shape"] == (2, 3, SIZE, SIZE)
    message = r"input 'input' is a device array \(__cuda_array_interface__\): infer\(\) takes host arrays"
    with pytest.raises(kiln.InvalidArgumentError, match=message):
        engine.create_execution_context().infer({INPUT: CudaArray()})


def test_dlpack_gpu_tensor_is_recognized_and_refused_by_infer(engine):
    info = _import_array(DlpackOnGpu(), INPUT, F32)
    assert info["kind"] == "device" and info["device"] == 1
    with pytest.raises(kiln.InvalidArgumentError, match=r"input 'input' is a device array \(DLPack\)"):
        engine.create_execution_context().infer({INPUT: DlpackOnGpu()})


def test_bool_and_integer_dtypes_round_trip(model_dir):
    from onnx import TensorProto, helper
    from conftest import save

    graph = helper.make_graph(
        [helper.make_node("Not", ["flags"], ["inverted"]), helper.make_node("Neg", ["ids"], ["negated"])],
        "types",
        [helper.make_tensor_value_info("flags", TensorProto.BOOL, [3]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 2])],
        [helper.make_tensor_value_info("inverted", TensorProto.BOOL, [3]),
         helper.make_tensor_value_info("negated", TensorProto.INT64, [2, 2])],
    )
    path = save(graph, model_dir / "types.onnx")
    builder = kiln.Builder()
    network = builder.create_network()
    kiln.OnnxParser(network).parse_from_file(path)
    engine = builder.build_engine(network, builder.create_builder_config())
    assert engine.get_tensor_dtype("flags") == np.bool_ and engine.get_tensor_dtype("ids") == np.int64
    out = engine.create_execution_context().infer(
        {"flags": np.array([True, False, True]), "ids": np.array([[1, -2], [3, 4]], np.int64)})
    assert out["inverted"].tolist() == [False, True, False]
    assert out["negated"].dtype == np.int64 and out["negated"].tolist() == [[-1, 2], [-3, -4]]
