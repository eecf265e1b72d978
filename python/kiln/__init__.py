"""Kiln: ONNX model -> optimized engine -> inference, with TensorRT's Python API shape.

The names follow TensorRT's Python API, so moving code over is mostly a change of import::

    import kiln

    logger = kiln.Logger(kiln.Logger.WARNING)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    parser.parse_from_file("resnet50.onnx")            # raises kiln.KilnError with Kiln's message
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 3, 224, 224), (8, 3, 224, 224), (16, 3, 224, 224))
    config.add_optimization_profile(profile)
    engine_bytes = builder.build_serialized_network(network, config)   # kiln.HostMemory (buffer protocol)

    runtime = kiln.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(engine_bytes)
    context = engine.create_execution_context()
    outputs = context.infer({"input": batch})           # {"output": numpy.ndarray}

Errors are exceptions: kiln.KilnError and one subclass per error code (NotFoundError, InvalidArgumentError,
OutOfRangeError, ...). The module is a binding of Kiln's C++ API (include/kiln/kiln.h); docs/python.md has the rest.
"""

from ._kiln import (  # noqa: F401
    Backend,
    Builder,
    BuilderConfig,
    BuilderFlag,
    Engine,
    EngineFileAction,
    EngineFileResult,
    ErrorCode,
    ExecutionContext,
    HostMemory,
    ILogger,
    InternalError,
    InvalidArgumentError,
    InvalidModelError,
    IoError,
    KilnError,
    Logger,
    MemoryPoolType,
    NetworkDefinition,
    NetworkDefinitionCreationFlag,
    NetworkTensor,
    NotFoundError,
    OnnxParser,
    OptimizationProfile,
    OutOfRangeError,
    Runtime,
    TensorIOMode,
    UnsupportedError,
    __version__,
)



def nptype(dtype):
    """The numpy scalar type of a dtype, as TensorRT's ``trt.nptype``: ``kiln.nptype(engine.get_tensor_dtype(n))``
    is ``numpy.float32`` for a float32 tensor. (Kiln's get_tensor_dtype already returns a numpy dtype.)"""
    import numpy

    return numpy.dtype(dtype).type


__all__ = [
    "nptype",
    "Backend",
    "Builder",
    "BuilderConfig",
    "BuilderFlag",
    "Engine",
    "EngineFileAction",
    "EngineFileResult",
    "ErrorCode",
    "ExecutionContext",
    "HostMemory",
    "ILogger",
    "InternalError",
    "InvalidArgumentError",
    "InvalidModelError",
    "IoError",
    "KilnError",
    "Logger",
    "MemoryPoolType",
    "NetworkDefinition",
    "NetworkDefinitionCreationFlag",
    "NetworkTensor",
    "NotFoundError",
    "OnnxParser",
    "OptimizationProfile",
    "OutOfRangeError",
    "Runtime",
    "TensorIOMode",
    "UnsupportedError",
]
