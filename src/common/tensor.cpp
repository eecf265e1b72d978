#include "kiln/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include <unistd.h>

#include "common/dispatch.h"

namespace kiln {

int64_t shapeNumel(const Shape& shape) noexcept {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shapeToString(const Shape& shape) {
    if (shape.empty()) return "scalar";
    std::string s;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += 'x';
        s += std::to_string(shape[i]);
    }
    return s;
}

namespace {

constexpr size_t kAlignment = 64;

std::shared_ptr<void> allocateStorage(DataType type, int64_t numel) {
    if (type == DataType::kString) {
        auto* strings = new std::string[static_cast<size_t>(numel > 0 ? numel : 1)];
        return {strings, [](void* p) { delete[] static_cast<std::string*>(p); }};
    }
    size_t bytes = static_cast<size_t>(numel) * dataTypeSize(type);
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    if (bytes == 0) bytes = kAlignment;
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    return {p, [](void* q) { std::free(q); }};
}

}  // namespace

Tensor::Tensor(DataType type, Shape shape) : mType(type), mShape(std::move(shape)) {
    mStorage = allocateStorage(mType, numel());
    mData = mStorage.get();
}

namespace {

//! Largest single allocation: the machine's physical memory (a bigger request could only end in the OOM killer).
int64_t maxAllocationBytes() {
    static const int64_t kLimit = [] {
        const long pages = sysconf(_SC_PHYS_PAGES);
        const long pageSize = sysconf(_SC_PAGE_SIZE);
        return pages > 0 && pageSize > 0 ? static_cast<int64_t>(pages) * pageSize : int64_t{1} << 40;
    }();
    return kLimit;
}

}  // namespace

Result<Tensor> Tensor::allocate(DataType type, Shape shape) {
    const int64_t maxBytes = maxAllocationBytes();
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) return invalidArgument("cannot allocate a tensor with negative dim: " + shapeToString(shape));
        if (d != 0 && n > maxBytes / d) return outOfRange("tensor of shape " + shapeToString(shape) + " is too large");
        n *= d;
    }
    const auto elemSize = static_cast<int64_t>(dataTypeSize(type));
    if (type == DataType::kUndefined) return invalidArgument("cannot allocate a tensor of undefined dtype");
    if (n > maxBytes / std::max<int64_t>(elemSize, 1)) {
        return outOfRange(std::string(dataTypeName(type)) + "[" + shapeToString(shape) +
                          "] needs more memory than this " + "machine has (" + std::to_string(maxBytes >> 20) +
                          " MiB)");
    }
    try {
        return Tensor(type, std::move(shape));
    } catch (const std::bad_alloc&) {
        return outOfRange("out of host memory allocating " + std::string(dataTypeName(type)) + "[" +
                          shapeToString(shape) + "]");
    }
}

Tensor Tensor::wrap(DataType type, Shape shape, void* data) {
    Tensor t;
    t.mType = type;
    t.mShape = std::move(shape);
    t.mData = data;
    return t;
}

Tensor Tensor::view(DataType type, Shape shape, void* data, std::shared_ptr<void> owner) {
    Tensor t;
    t.mType = type;
    t.mShape = std::move(shape);
    t.mStorage = std::move(owner);
    t.mData = data;
    return t;
}

Result<Tensor> Tensor::reshaped(Shape shape) const {
    if (shapeNumel(shape) != numel()) {
        return invalidArgument("cannot reshape " + describe() + " to " + shapeToString(shape));
    }
    Tensor t = *this;
    t.mShape = std::move(shape);
    return t;
}

Tensor Tensor::clone() const {
    Tensor t(mType, mShape);
    if (mType == DataType::kString) {
        for (int64_t i = 0; i < numel(); ++i) t.strings()[i] = strings()[i];
    } else if (byteSize() > 0) {
        std::memcpy(t.mData, mData, byteSize());
    }
    return t;
}

double Tensor::getDouble(int64_t i) const {
    double out = 0;
    Status s = dispatchAll(mType, [&]<typename T>() {
        out = static_cast<double>(static_cast<ComputeT<T>>(data<T>()[i]));
        return Status::ok();
    });
    s.ignore();
    return out;
}

int64_t Tensor::getInt(int64_t i) const {
    if (isFloatingPoint(mType)) return static_cast<int64_t>(getDouble(i));
    int64_t out = 0;
    Status s = dispatchAll(mType, [&]<typename T>() {
        out = static_cast<int64_t>(data<T>()[i]);
        return Status::ok();
    });
    s.ignore();
    return out;
}

std::vector<int64_t> Tensor::toInt64Vector() const {
    std::vector<int64_t> v(static_cast<size_t>(numel()));
    for (int64_t i = 0; i < numel(); ++i) v[static_cast<size_t>(i)] = getInt(i);
    return v;
}

std::string Tensor::describe() const { return std::string(dataTypeName(mType)) + "[" + shapeToString(mShape) + "]"; }

}  // namespace kiln
