// Tensor-core building blocks shared by Kiln's mma.sync kernels (attention_flash*.cu, conv_transpose_mma.cu,
// conv_small_c.cu):
// cp.async 16-byte copies into shared memory, ldmatrix (plain and transposed), mma.sync m16n8k16 on float16 or
// bfloat16 with float32 accumulation, and packing of float pairs into the input dtype. C++17, device code only.
//
// Fragment layouts of m16n8k16 (g = lane / 4, t = lane % 4), which ldmatrix x4 produces when lane l gives the address
// of row l % 16, column (l / 16) * 8 of a 16x16 tile in shared memory:
//   A (16x16, row-major): a0 = (g, 2t..2t+1), a1 = (g + 8, 2t..), a2 = (g, 2t+8..), a3 = (g + 8, 2t+8..);
//   B (16x8, "col"):      b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g): ldmatrix.trans of a K x N row-major
//                         16x16 tile gives b0, b1 of n 0-7 then b0, b1 of n 8-15;
//   C/D (16x8, float):    c0, c1 = (g, 2t..2t+1), c2, c3 = (g + 8, 2t..2t+1).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace kiln::cuda::mma {

//! 16 bytes global → shared, asynchronous (L2 only); `valid` false writes 16 zero bytes and reads nothing.
__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
//! Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

//! c += a · b for one m16n8k16 tile of T (__half or __nv_bfloat16), float32 accumulators.
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (std::is_same_v<T, __half>) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

//! Two floats → one register of two T (lo in the low half, as the mma fragments order them).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    if constexpr (std::is_same_v<T, __half>) {
        const __half2 v = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&v);
    } else {
        const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&v);
    }
}

//! max(x, 0) of two packed T values, NaN kept (the reference's Relu, x < 0 ? 0 : x): applied after the rounding,
//! with which it commutes, two values per instruction.
template <typename T>
__device__ __forceinline__ uint32_t reluNan2(uint32_t v) {
    if constexpr (std::is_same_v<T, __half>) {
        const __half2 r = __hmax2_nan(*reinterpret_cast<const __half2*>(&v), __float2half2_rn(0.0f));
        return *reinterpret_cast<const uint32_t*>(&r);
    } else {
        const __nv_bfloat162 r = __hmax2_nan(*reinterpret_cast<const __nv_bfloat162*>(&v), __float2bfloat162_rn(0.0f));
        return *reinterpret_cast<const uint32_t*>(&r);
    }
}

//! A 32-bit shared-memory load (two b16 values of a fragment).
__device__ __forceinline__ uint32_t lds32(const void* p) { return *reinterpret_cast<const uint32_t*>(p); }

//! Four 8x8 b16 matrices; lane i gives the address of row i % 8 of matrix i / 8.
__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void* rowAddress) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(rowAddress));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

//! The same, each 8x8 matrix transposed (B fragments of a K x N row-major tile).
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void* rowAddress) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(rowAddress));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

}  // namespace kiln::cuda::mma
