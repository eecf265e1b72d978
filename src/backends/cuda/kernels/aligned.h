// Pointer alignment for the kernels' 16-byte (vectorized, TMA, tensor-core fragment) paths. Plain C++17: host code
// and nvcc alike.
#pragma once

#include <cstdint>

namespace kiln::cuda {

//! Whether `ptr` is 16-byte aligned; null is (an absent operand constrains nothing).
inline bool aligned16(const void* ptr) noexcept { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; }

}  // namespace kiln::cuda
