// Hopper building blocks for Kiln's warp-specialized kernels (conv_wgmma.cu): mbarriers, TMA tile loads, and the
// warpgroup MMA with A in registers. C++17, device code only, and only for sm_90a: every function compiles to
// nothing elsewhere (the callers guard their kernels with KILN_WGMMA_ARCH too).
//
// Layouts used here (PTX ISA, "Asynchronous Warpgroup Level Matrix" sections), for wgmma.m64nNk16 with 16-bit
// inputs; a warpgroup is 4 consecutive warps, warp q of it owns rows 16q..16q+15 of A and D; g = lane / 4,
// t = lane % 4:
//   A in registers (64 x 16, row-major, 4 x b32 per thread): a0 = (16q + g, 2t..2t+1), a1 = (16q + g + 8, 2t..),
//     a2 = (16q + g, 2t+8..2t+9), a3 = (16q + g + 8, 2t+8..), the lower k in the low half (as mma.m16n8k16's A);
//   D (64 x N float, N / 2 per thread): d[4j + 0, 1] = (16q + g, 8j + 2t + 0, 1), d[4j + 2, 3] = (16q + g + 8, same);
//   B in shared memory, K-major (imm-trans-b = 0: for each column n, K is contiguous), no swizzle: "core matrices"
//     of 8 columns x 16 bytes (8 k), each 128 contiguous bytes (column n's 8 values at +16 n); the descriptor's
//     leading byte offset (LBO) is the distance between the two core matrices along K (k 0-7 and 8-15), its
//     stride byte offset (SBO) the distance between core matrices along N (columns 8j and 8j + 8).
#pragma once

#include <cuda.h>  // CUtensorMap (a type only: nothing here links the driver)
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define KILN_WGMMA_ARCH 1
#else
#define KILN_WGMMA_ARCH 0
#endif

namespace kiln::cuda::hopper {

__device__ __forceinline__ uint32_t smemAddress(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- mbarriers (CTA scope) ----

__device__ __forceinline__ void mbarInit(uint64_t* bar, uint32_t count) {
#if KILN_WGMMA_ARCH
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smemAddress(bar)), "r"(count) : "memory");
#endif
}

//! Makes the initialized barriers visible to the async proxy (TMA) and the other threads (with a __syncthreads).
__device__ __forceinline__ void mbarInitFence() {
#if KILN_WGMMA_ARCH
    asm volatile("fence.mbarrier_init.release.cluster;\nfence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void mbarArrive(uint64_t* bar) {
#if KILN_WGMMA_ARCH
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smemAddress(bar)) : "memory");
#endif
}

//! One arrival that also expects `bytes` of TMA transactions before the phase completes.
__device__ __forceinline__ void mbarArriveExpectTx(uint64_t* bar, uint32_t bytes) {
#if KILN_WGMMA_ARCH
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smemAddress(bar)), "r"(bytes)
                 : "memory");
#endif
}

//! Waits until the phase of parity `parity` has completed. A fresh barrier is in phase 0, and waiting for parity 1
//! returns at once (the phase before it counts as complete): producers start on parity 1 of their "empty" barriers.
__device__ __forceinline__ void mbarWait(uint64_t* bar, uint32_t parity) {
#if KILN_WGMMA_ARCH
    const uint32_t addr = smemAddress(bar);
    uint32_t done = 0;
    do {
        asm volatile(
            "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
            : "=r"(done)
            : "r"(addr), "r"(parity)
            : "memory");
    } while (!done);
#endif
}

// ---- TMA ----

//! The 4-D tile at coordinates (c0 fastest .. c3) of `map` → shared memory at `dst` (128-byte aligned); completes
//! its bytes on `bar`. Coordinates outside the tensor (negative ones included) read zero.
__device__ __forceinline__ void tmaLoad4d(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1, int c2,
                                          int c3) {
#if KILN_WGMMA_ARCH
    asm volatile(
        "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], "
        "[%6];\n" ::"r"(smemAddress(dst)),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(smemAddress(bar))
        : "memory");
#endif
}

__device__ __forceinline__ void tmaPrefetchDescriptor(const CUtensorMap* map) {
#if KILN_WGMMA_ARCH
    asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
#endif
}

// ---- warpgroup MMA ----

//! A shared-memory matrix descriptor without swizzle (see the layouts above): start address, LBO and SBO in bytes,
//! all multiples of 16.
__device__ __forceinline__ uint64_t wgmmaDescriptor(uint32_t start, uint32_t lbo, uint32_t sbo) {
    return static_cast<uint64_t>((start & 0x3FFFF) >> 4) | (static_cast<uint64_t>((lbo & 0x3FFFF) >> 4) << 16) |
           (static_cast<uint64_t>((sbo & 0x3FFFF) >> 4) << 32);
}

__device__ __forceinline__ void wgmmaFence() {
#if KILN_WGMMA_ARCH
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmmaCommit() {
#if KILN_WGMMA_ARCH
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

//! Waits until at most N committed wgmma groups of the warpgroup are pending.
template <int N>
__device__ __forceinline__ void wgmmaWait() {
#if KILN_WGMMA_ARCH
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}

//! Keeps the compiler from moving reads or writes of the accumulators across this point (the wgmma reads and
//! writes them asynchronously, which the compiler does not see).
template <int N>
__device__ __forceinline__ void fenceRegisters(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// The 32 accumulator operands of an m64n64 wgmma ("+f" each) and their place holders.
#define KILN_WGMMA_F8(d, i)                                                                                     \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
        "+f"(d[i + 7])
#define KILN_WGMMA_F32(d) KILN_WGMMA_F8(d, 0), KILN_WGMMA_F8(d, 8), KILN_WGMMA_F8(d, 16), KILN_WGMMA_F8(d, 24)
#define KILN_WGMMA_R0_31                                                                                             \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
    "%24, %25, %26, %27, %28, %29, %30, %31"

//! d (64 x 64 float) = A (64 x 16 of T, registers) · B (16 x 64 of T, K-major in shared memory, `descB`) + (accumulate
//! ? d : 0), asynchronously (wgmmaCommit / wgmmaWait). T is __half or __nv_bfloat16.
template <typename T>
__device__ __forceinline__ void wgmmaM64N64K16(float (&d)[32], const uint32_t (&a)[4], uint64_t descB, int accumulate) {
#if KILN_WGMMA_ARCH
    if constexpr (std::is_same_v<T, __half>) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {" KILN_WGMMA_R0_31
            "}, {%32, %33, %34, %35}, %36, p, "
            "1, 1, 0;\n}\n"
            : KILN_WGMMA_F32(d)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(accumulate)
            : "memory");
    } else {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" KILN_WGMMA_R0_31
            "}, {%32, %33, %34, %35}, %36, "
            "p, 1, 1, 0;\n}\n"
            : KILN_WGMMA_F32(d)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(accumulate)
            : "memory");
    }
#endif
}

#undef KILN_WGMMA_F8
#undef KILN_WGMMA_F32
#undef KILN_WGMMA_R0_31

//! setmaxnreg for the calling warpgroup (all of its threads): raise (`increase`) or lower its registers per thread
//! to N (a multiple of 8 in 24..256).
template <int N, bool increase>
__device__ __forceinline__ void setMaxRegisters() {
#if KILN_WGMMA_ARCH
    if constexpr (increase) {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
    } else {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
    }
#endif
}

//! A named barrier among `threads` threads (a multiple of 32); ids 1..15 (0 is __syncthreads).
__device__ __forceinline__ void namedBarrier(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

//! Arrives at named barrier `id` (of `threads` threads) without waiting: lets those that wait there (namedBarrier)
//! go once `threads` have come.
__device__ __forceinline__ void namedBarrierArrive(int id, int threads) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace kiln::cuda::hopper
