"""The kiln module's API: TensorRT's Python names over Kiln's C++ API, build to run."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import CLASSES, FEATURES, INPUT, LOGITS, PROFILE, SIZE, build_bytes

import kiln


class Collector(kiln.ILogger):
    def __init__(self):
        kiln.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        self.messages.append((severity, msg))


def test_build_and_inspect_network(classifier_onnx):
    logger = Collector()
    builder = kiln.Builder(logger)
    network = builder.create_network(1 << int(kiln.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    assert network.num_inputs == 0
    assert kiln.OnnxParser(network, logger).parse_from_file(classifier_onnx) is True
    assert (network.num_inputs, network.num_outputs) == (1, 2)
    tensor = network.get_input(0)
    assert (tensor.name, tensor.shape, tensor.dtype) == (INPUT, (-1, 3, SIZE, SIZE), np.float32)
    assert [network.get_output(i).name for i in range(2)] == [LOGITS, FEATURES]
    assert any(s == kiln.Logger.INFO and "parsed" in m for s, m in logger.messages)


def test_builder_config_settings(classifier_onnx):
    builder = kiln.Builder()
    config = builder.create_builder_config()
    assert not config.get_flag(kiln.BuilderFlag.FP16)
    config.set_flag(kiln.BuilderFlag.FP16)
    assert config.get_flag(kiln.BuilderFlag.FP16)
    config.clear_flag(kiln.BuilderFlag.FP16)
    assert not config.get_flag(kiln.BuilderFlag.FP16)
    config.set_memory_pool_limit(kiln.MemoryPoolType.WORKSPACE, 1 << 20)
    assert config.get_memory_pool_limit(kiln.MemoryPoolType.WORKSPACE) == 1 << 20
    config.set_memory_pool_limit(1 << 21)
    assert config.get_memory_pool_limit() == 1 << 21
    assert config.builder_optimization_level == 3
    config.builder_optimization_level = 1
    assert config.builder_optimization_level == 1
    with pytest.raises(kiln.OutOfRangeError, match="optimization level 9"):
        config.builder_optimization_level = 9
    config.backend = kiln.Backend.CPU
    assert config.backend == kiln.Backend.CPU
    config.device = 0
    with pytest.raises(kiln.OutOfRangeError, match="negative"):
        config.device = -1
    config.set_timing_cache_path("timing.cache")
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT, *PROFILE)
    assert profile.get_shape(INPUT) == list(PROFILE)
    assert config.add_optimization_profile(profile) == 0
    assert config.add_optimization_profile(profile) == 1
    assert config.num_optimization_profiles == 2


def test_precision_flag_is_logged_and_builds(classifier_onnx):
    logger = Collector()
    builder = kiln.Builder(logger)
    network = builder.create_network()
    kiln.OnnxParser(network, logger).parse_from_file(classifier_onnx)
    config = builder.create_builder_config()
    config.backend = kiln.Backend.CPU
    config.set_flag(kiln.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT, *PROFILE)
    config.add_optimization_profile(profile)
    engine = builder.build_engine(network, config)
    assert engine.num_io_tensors == 3
    assert any("computes in FP32" in m for _, m in logger.messages)


def test_host_memory_buffer_protocol(classifier_onnx, tmp_path):
    memory = build_bytes(classifier_onnx)
    view = memoryview(memory)
    assert view.readonly and view.nbytes == memory.nbytes == len(memory) > 0
    assert bytes(memory)[:7] == b"KILNENG"
    assert np.frombuffer(memory, np.uint8).size == memory.nbytes
    path = tmp_path / "x.engine"
    with open(path, "wb") as f:
        f.write(memory)
    assert path.read_bytes() == bytes(memory)


def test_engine_introspection(engine):
    assert engine.num_io_tensors == 3
    names = [engine.get_tensor_name(i) for i in range(3)]
    assert names == [INPUT, LOGITS, FEATURES]
    assert engine.get_tensor_mode(INPUT) == kiln.TensorIOMode.INPUT
    assert engine.get_tensor_mode(LOGITS) == kiln.TensorIOMode.OUTPUT
    assert engine.get_tensor_dtype(INPUT) == np.dtype(np.float32)
    assert kiln.nptype(engine.get_tensor_dtype(INPUT)) is np.float32  # TensorRT's trt.nptype idiom
    assert engine.get_tensor_shape(INPUT) == (-1, 3, SIZE, SIZE)
    assert engine.get_tensor_shape(LOGITS) == (-1, CLASSES)
    assert engine.num_optimization_profiles == 1
    assert engine.get_tensor_profile_shape(INPUT, 0) == list(PROFILE)
    assert engine.activation_memory_size == engine.device_memory_size == 0  # dynamic shapes: sized per run
    assert "'input' float32[-1x3x8x8]" in repr(engine)
    with pytest.raises(kiln.OutOfRangeError):
        engine.get_tensor_name(3)
    with pytest.raises(kiln.OutOfRangeError, match="profile 1 does not exist"):
        engine.get_tensor_profile_shape(INPUT, 1)


def test_static_engine_reports_activation_memory(model_dir):
    from conftest import classifier_graph, save

    onnx_path = save(classifier_graph(batch=2), model_dir / "static.onnx")
    engine = kiln.Runtime().deserialize_cuda_engine(build_bytes(onnx_path, profile=None))
    assert engine.num_optimization_profiles == 0
    assert engine.activation_memory_size > 0


def reference(batch: np.ndarray, engine) -> dict:
    return engine.create_execution_context().infer({INPUT: batch})


def test_infer_returns_outputs_in_engine_order(engine, batch):
    outputs = reference(batch, engine)
    assert list(outputs) == [LOGITS, FEATURES]
    assert outputs[LOGITS].shape == (2, CLASSES) and outputs[LOGITS].dtype == np.float32
    assert outputs[FEATURES].shape == (2, 8)
    assert np.all(outputs[FEATURES] >= 0)  # features are averages of a Relu
    # Outputs belong to the caller: writing to them does not change the next run.
    outputs[LOGITS][:] = 0
    assert np.array_equal(reference(batch, engine)[LOGITS], reference(batch, engine)[LOGITS])
    assert not np.all(reference(batch, engine)[LOGITS] == 0)


def test_infer_batch_rows_are_independent(engine, batch):
    both = reference(batch, engine)[LOGITS]
    first = reference(batch[:1].copy(), engine)[LOGITS]
    np.testing.assert_allclose(both[:1], first, rtol=1e-6, atol=1e-6)


def test_execute_async_v3_on_numpy_addresses(engine, batch):
    context = engine.create_execution_context()
    assert context.active_optimization_profile == 0
    assert context.set_input_shape(INPUT, batch.shape) is True
    assert context.get_tensor_shape(INPUT) == batch.shape
    assert context.get_tensor_shape(LOGITS) == (-1, CLASSES)  # not known before a run
    logits = np.empty((2, CLASSES), np.float32)
    features = np.empty((2, 8), np.float32)
    assert context.set_tensor_address(INPUT, batch.ctypes.data)
    assert context.set_tensor_address(LOGITS, logits.ctypes.data, logits.nbytes)
    context.set_tensor_address(FEATURES, features.ctypes.data, features.nbytes)
    assert context.cuda_graphs is True  # the default; CPU engines ignore it
    assert context.last_enqueue_path == ("none", "")
    assert context.execute_async_v3(0) is True
    assert context.get_tensor_shape(LOGITS) == (2, CLASSES)
    expected = reference(batch, engine)
    assert np.array_equal(logits, expected[LOGITS]) and np.array_equal(features, expected[FEATURES])
    logits[:] = 0
    assert context.execute_async(stream=0)
    assert np.array_equal(logits, expected[LOGITS])


def test_execute_checks_output_capacity(engine, batch):
    context = engine.create_execution_context()
    context.set_input_shape(INPUT, batch.shape)
    small = np.empty((1, CLASSES), np.float32)
    features = np.empty((2, 8), np.float32)
    context.set_tensor_address(INPUT, batch.ctypes.data, batch.nbytes)
    context.set_tensor_address(LOGITS, small.ctypes.data, small.nbytes)
    context.set_tensor_address(FEATURES, features.ctypes.data, features.nbytes)
    with pytest.raises(kiln.OutOfRangeError, match="output 'logits'.*needs 40 bytes"):
        context.execute_async_v3()


def test_execute_names_a_missing_address(engine, batch):
    context = engine.create_execution_context()
    context.set_input_shape(INPUT, batch.shape)
    context.set_tensor_address(INPUT, batch.ctypes.data)
    with pytest.raises(kiln.InvalidArgumentError, match="output 'logits' has no address"):
        context.execute_async_v3()


def test_load_engine_file_matches_deserialize(engine_file, engine, batch):
    loaded = kiln.Runtime().load_engine_file(engine_file)
    assert np.array_equal(reference(batch, loaded)[LOGITS], reference(batch, engine)[LOGITS])
    again = kiln.Runtime().load_engine_file(str(engine_file))  # str and os.PathLike
    assert again.num_io_tensors == 3


def test_engine_and_context_outlive_their_creators(engine_bytes, batch):
    def make_context():
        runtime = kiln.Runtime(kiln.Logger())
        return runtime.deserialize_cuda_engine(engine_bytes).create_execution_context()

    context = make_context()  # runtime, logger and engine are only referenced by the context now
    import gc

    gc.collect()
    assert context.infer({INPUT: batch})[LOGITS].shape == (2, CLASSES)
    assert context.engine.num_io_tensors == 3


def test_contexts_run_concurrently(engine, batch):
    expected = reference(batch, engine)[LOGITS]
    results, errors = [], []

    def work():
        try:
            context = engine.create_execution_context()
            for _ in range(20):
                results.append(context.infer({INPUT: batch})[LOGITS])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 80 and all(np.array_equal(r, expected) for r in results)


def test_one_context_shared_by_threads_is_serialized(engine, batch):
    context = engine.create_execution_context()
    expected = reference(batch, engine)[LOGITS]
    results = []
    threads = [
        threading.Thread(target=lambda: results.extend(context.infer({INPUT: batch})[LOGITS] for _ in range(20)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 60 and all(np.array_equal(r, expected) for r in results)


def test_logger_severity_filter_and_callback(classifier_onnx):
    seen = []
    logger = kiln.Logger(kiln.Logger.WARNING, callback=lambda s, m: seen.append((s, m)))
    assert logger.min_severity == kiln.Logger.WARNING
    network = kiln.Builder(logger).create_network()
    kiln.OnnxParser(network, logger).parse_from_file(classifier_onnx)
    assert seen == []  # "parsed ..." is INFO
    logger.min_severity = kiln.Logger.VERBOSE
    kiln.OnnxParser(network, logger).parse_from_file(classifier_onnx)
    assert any(s == kiln.Logger.INFO and str(classifier_onnx) in m for s, m in seen)


def test_logger_writes_to_stderr_by_default(capsys):
    kiln.Logger(kiln.Logger.INFO).log(kiln.Logger.WARNING, "hello")
    assert capsys.readouterr().err == "[kiln] WARNING: hello\n"


def test_logger_subclass_override_and_super(classifier_onnx):
    class Prefixed(kiln.Logger):
        def __init__(self):
            super().__init__(kiln.Logger.INFO, callback=lambda s, m: self.lines.append(m))
            self.lines = []

        def log(self, severity, msg):
            super().log(severity, "seen: " + msg)

    logger = Prefixed()
    kiln.OnnxParser(kiln.Builder(logger).create_network(), logger).parse_from_file(classifier_onnx)
    assert any(line.startswith("seen: parsed") for line in logger.lines)


def test_logger_exception_is_unraisable_not_fatal(classifier_onnx, monkeypatch):
    reported = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: reported.append(u.exc_value))

    class Broken(kiln.ILogger):
        def __init__(self):
            kiln.ILogger.__init__(self)

        def log(self, severity, msg):
            raise RuntimeError("logger failed")

    logger = Broken()
    network = kiln.Builder(logger).create_network()
    assert kiln.OnnxParser(network, logger).parse_from_file(classifier_onnx)
    assert reported and isinstance(reported[0], RuntimeError)
