// Python arrays ↔ Kiln tensors: numpy dtypes, host arrays without copies where possible, and recognition of device
// arrays (__cuda_array_interface__, DLPack) so that an engine can be given, or refuse, device memory by name.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "kiln/kiln.h"

namespace kiln::python {

//! Where an array's memory is.
enum class MemoryKind { kHost, kDevice };

//! An array argument as Kiln sees it. `owner` keeps `data` alive: the caller's array itself when no copy was made.
struct ArrayArg {
    MemoryKind kind = MemoryKind::kHost;
    pybind11::object owner;
    void* data = nullptr;  //!< Host address, or device address (0 when the protocol does not say before use)
    DataType dtype = DataType::kUndefined;
    Shape shape;
    int device = -1;            //!< CUDA device ordinal of device arrays
    std::string protocol;       //!< "numpy", "__array_interface__", "buffer", "DLPack", "__cuda_array_interface__"
    std::string copiedBecause;  //!< Empty when Kiln reads the caller's memory in place
};

//! Recognizes `obj` as an array for the I/O tensor `name`, which expects `expected`:
//!   - device arrays (`__cuda_array_interface__`, or `__dlpack_device__` naming a GPU) come back with kind kDevice;
//!     the caller decides whether the engine takes them;
//!   - host arrays (numpy, `__array_interface__`, the buffer protocol, DLPack on the CPU) are used in place when
//!     C-contiguous, aligned and in native byte order; otherwise copied into one that is (copiedBecause says why);
//!   - Python lists and scalars, which have no dtype, are converted to `expected` (a copy).
//! A host array whose dtype differs from `expected` is an InvalidArgument error naming the tensor (no silent casts).
ArrayArg importArray(pybind11::handle obj, const std::string& name, DataType expected);

//! The numpy dtype of a Kiln type; Unsupported (naming `what`) for types numpy lacks (bfloat16, string).
pybind11::dtype numpyDtype(DataType type, const std::string& what);
//! The Kiln type of a numpy dtype in native byte order; kUndefined when Kiln has none.
DataType kilnDtype(const pybind11::dtype& dtype);

//! A new numpy array holding a copy of `tensor`.
pybind11::array toNumpy(const Tensor& tensor, const std::string& name);

pybind11::tuple shapeToTuple(const Shape& shape);

void bindArrays(pybind11::module_& m);

}  // namespace kiln::python
