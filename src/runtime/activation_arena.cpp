#include "runtime/activation_arena.h"

#include <cstdlib>
#include <cstring>

namespace kiln::runtime {

namespace {

//! Bytes of a dense tensor of `shape`, or nullopt for a negative dim or an overflow.
std::optional<size_t> denseBytes(DataType dtype, const Shape& shape) {
    size_t bytes = dataTypeSize(dtype);
    for (int64_t d : shape) {
        if (d < 0 || __builtin_mul_overflow(bytes, static_cast<size_t>(d), &bytes)) return std::nullopt;
    }
    return bytes;
}

}  // namespace

ActivationArena::ActivationArena(std::shared_ptr<const plan::MemoryPlan> staticPlan)
    : mPlan(std::move(staticPlan)), mStatic(mPlan != nullptr) {}

Status ActivationArena::reserve() {
    if (!mStatic) return Status::ok();
    KILN_RETURN_IF_ERROR(allocateBuffer(mPlan->arenaBytes));
    mStats = ArenaStats{mBufferBytes, mPlan->totalBytes, 0, 0, 0};
    return Status::ok();
}

Status ActivationArena::allocateBuffer(size_t bytes) {
    mBuffer.reset();
    mBufferBytes = 0;
    if (bytes == 0) return Status::ok();
    // The plan's offsets and sizes are multiples of its alignment, so the arena's size is one too.
    const size_t alignment = mPlan->alignment;
    void* p = std::aligned_alloc(alignment, bytes);
    if (p == nullptr) {
        return outOfRange("out of host memory allocating the " + std::to_string(bytes) + "-byte activation arena");
    }
    mBuffer = std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); });
    mBufferBytes = bytes;
    return Status::ok();
}

void ActivationArena::beginRun(const std::vector<Shape>& inputShapes) {
    mStats = ArenaStats{mBufferBytes, mBuffer ? mPlan->totalBytes : 0, 0, 0, 0};
    mRecording = !mStatic && !(mPlannedFor && *mPlannedFor == inputShapes);
    if (mRecording) {
        mRecorded.clear();
        mRunInputs = inputShapes;
    }
}

void ActivationArena::endRun(const ir::Graph& graph) {
    if (!mRecording) return;
    mRecording = false;
    mPlannedFor = mRunInputs;
    // A graph the planner cannot lay out (e.g. string activations) keeps running on the heap for these shapes.
    auto p = plan::planMemory(graph, {}, &mRecorded);
    mRecorded.clear();
    mPlan = p ? std::make_shared<const plan::MemoryPlan>(std::move(p).value()) : nullptr;
    if (!mPlan || !allocateBuffer(mPlan->arenaBytes)) {
        mPlan.reset();
        allocateBuffer(0).ignore();
    }
}

bool ActivationArena::inArena(const void* p) const noexcept {
    const auto* b = static_cast<const std::byte*>(p);
    return mBuffer != nullptr && b >= mBuffer.get() && b < mBuffer.get() + mBufferBytes;
}

Tensor ActivationArena::allocate(const ir::Value& value, DataType dtype, const Shape& shape) {
    if (mRecording || mBuffer == nullptr || dtype == DataType::kString) return {};
    const plan::BufferAssignment* b = mPlan->find(&value);
    const std::optional<size_t> bytes = denseBytes(dtype, shape);
    if (b == nullptr || !bytes || *bytes == 0 || *bytes != b->bytes) return {};
    std::byte* slot = mBuffer.get() + b->offset;
    std::memset(slot, 0, *bytes);
    return Tensor::view(dtype, shape, slot, mBuffer);
}

void ActivationArena::produced(const ir::Value& value, Tensor& tensor) {
    if (mRecording) {
        mRecorded[&value] = tensor.shape();
        ++mStats.onHeap;
        return;
    }
    if (tensor.byteSize() == 0 || tensor.dtype() == DataType::kString || !inArena(tensor.raw())) {
        ++mStats.onHeap;
        return;
    }
    const plan::BufferAssignment* b = mPlan->find(&value);
    std::byte* slot = b ? mBuffer.get() + b->offset : nullptr;
    if (slot == tensor.raw() && tensor.byteSize() <= b->bytes) {
        ++mStats.inArena;
        return;
    }
    // The tensor aliases another activation's place (a Reshape, Identity, ...), which the plan may give to a later
    // value while this one is still live: move it to its own place (disjoint from every value live now) or the heap.
    if (b != nullptr && tensor.byteSize() == b->bytes) {
        std::memcpy(slot, tensor.raw(), b->bytes);
        tensor = Tensor::view(tensor.dtype(), tensor.shape(), slot, mBuffer);
        ++mStats.copiedIn;
        return;
    }
    tensor = tensor.clone();
    ++mStats.onHeap;
}

bool ActivationArena::contains(const Tensor& tensor) const noexcept {
    return tensor.byteSize() > 0 && tensor.dtype() != DataType::kString && inArena(tensor.raw());
}

}  // namespace kiln::runtime
