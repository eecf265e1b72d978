// A tensor in device memory: dtype, shape, contiguous row-major data. The storage is shared (views such as
// Reshape's output share their input's), and returns to the context's arena when the last holder lets go.
#pragma once

#include <memory>

#include "kiln/dtype.h"
#include "kiln/tensor.h"

namespace kiln::cuda {

struct DeviceTensor {
    DataType dtype = DataType::kUndefined;
    Shape shape;
    void* data = nullptr;           //!< Device pointer (null for empty tensors).
    std::shared_ptr<void> storage;  //!< Keeps `data` alive; null for memory Kiln does not own (user bindings).

    bool defined() const noexcept { return dtype != DataType::kUndefined; }
    int64_t numel() const noexcept { return shapeNumel(shape); }
    int64_t rank() const noexcept { return static_cast<int64_t>(shape.size()); }
    size_t byteSize() const noexcept { return static_cast<size_t>(numel()) * dataTypeSize(dtype); }
    template <typename T>
    T* as() const noexcept {
        return static_cast<T*>(data);
    }
};

}  // namespace kiln::cuda
