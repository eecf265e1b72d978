// A host tensor: dtype, shape and a contiguous row-major buffer shared between copies.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln {

using Shape = std::vector<int64_t>;

//! Number of elements of a shape (1 for a scalar, 0 when any dim is 0).
int64_t shapeNumel(const Shape& shape) noexcept;
//! "1x3x224x224" ("scalar" for rank 0).
std::string shapeToString(const Shape& shape);

//! Host tensor. Copying a Tensor shares its buffer (like a shared_ptr); use clone() for a deep copy.
//! Thread safety: concurrent reads are safe; writes to a shared buffer need external synchronisation.
class Tensor {
public:
    Tensor() = default;
    //! Allocates zero-filled storage. For kString, elements are std::string.
    Tensor(DataType type, Shape shape);

    //! Allocation that fails cleanly (kOutOfRange) instead of throwing on absurd sizes.
    static Result<Tensor> allocate(DataType type, Shape shape);
    //! Wraps external memory without owning it; the caller keeps it alive.
    static Tensor wrap(DataType type, Shape shape, void* data);
    //! Wraps external memory kept alive by `owner` (e.g. a memory-mapped engine file): copies of the tensor share
    //! `owner`, so the memory lives as long as any of them. `data` must point into what `owner` keeps alive.
    static Tensor view(DataType type, Shape shape, void* data, std::shared_ptr<void> owner);
    //! 0-d tensor holding one value.
    template <typename T>
    static Tensor scalar(T value) {
        Tensor t(DataTypeOf<T>::value, {});
        *t.data<T>() = value;
        return t;
    }
    //! 1-d (or given shape) tensor from values.
    template <typename T>
    static Tensor fromVector(const std::vector<T>& values, Shape shape = {}) {
        if (shape.empty() && values.size() != 1) shape = {static_cast<int64_t>(values.size())};
        Tensor t(DataTypeOf<T>::value, std::move(shape));
        for (size_t i = 0; i < values.size(); ++i) t.data<T>()[i] = values[i];
        return t;
    }

    bool defined() const noexcept { return mType != DataType::kUndefined; }
    DataType dtype() const noexcept { return mType; }
    const Shape& shape() const noexcept { return mShape; }
    int64_t rank() const noexcept { return static_cast<int64_t>(mShape.size()); }
    int64_t dim(int64_t i) const { return mShape.at(static_cast<size_t>(i < 0 ? i + rank() : i)); }
    int64_t numel() const noexcept { return shapeNumel(mShape); }
    size_t byteSize() const noexcept { return static_cast<size_t>(numel()) * dataTypeSize(mType); }

    void* raw() noexcept { return mData; }
    const void* raw() const noexcept { return mData; }
    template <typename T>
    T* data() noexcept {
        return static_cast<T*>(mData);
    }
    template <typename T>
    const T* data() const noexcept {
        return static_cast<const T*>(mData);
    }
    std::string* strings() noexcept { return static_cast<std::string*>(mData); }
    const std::string* strings() const noexcept { return static_cast<const std::string*>(mData); }

    //! Same buffer, new shape with the same element count.
    Result<Tensor> reshaped(Shape shape) const;
    //! Deep copy.
    Tensor clone() const;
    //! Element i converted to double / int64 (any numeric dtype), for shape and attribute tensors.
    double getDouble(int64_t i) const;
    int64_t getInt(int64_t i) const;
    //! All elements as int64 (for shape-like tensors of any integer type).
    std::vector<int64_t> toInt64Vector() const;
    //! "float32[1x3x224x224]".
    std::string describe() const;

private:
    DataType mType = DataType::kUndefined;
    Shape mShape;
    std::shared_ptr<void> mStorage;
    void* mData = nullptr;
};

}  // namespace kiln
