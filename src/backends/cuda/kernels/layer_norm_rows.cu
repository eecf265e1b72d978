#include <cstdint>

#include "backends/cuda/kernels/conv_gemm_common.cuh"
#include "backends/cuda/kernels/layer_norm_rows.h"

namespace kiln::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;

__device__ __forceinline__ float warpSum(float v) {
    for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

//! kVec consecutive elements, loaded and stored as one access (8 bytes for four 16-bit values).
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
    T v[kVec];
};

template <typename T>
struct RowPointers {
    const T* x;
    const T* r;
    T* y;
};

template <typename T>
__device__ __forceinline__ float loadSum(const RowPointers<T>& p, int64_t i) {
    float v = cg::toAcc<float>(p.x[i]);
    if (p.r) v += cg::toAcc<float>(p.r[i]);
    return v;
}

//! Rows held in registers: lane l holds elements [(c * 32 + l) * kVec, +kVec) for c < kChunks.
template <typename T, int kVec, int kChunks>
__global__ void __launch_bounds__(kWarp* kWarpsPerBlock) rowsInRegisters(RowLayerNormArgs a) {
    using P = Pack<T, kVec>;
    const int lane = static_cast<int>(threadIdx.x) % kWarp;
    const int64_t row = int64_t{blockIdx.x} * kWarpsPerBlock + static_cast<int>(threadIdx.x) / kWarp;
    if (row >= a.rows) return;  // whole warps leave together: the shuffles below see full warps
    const int64_t cols = a.cols;
    const RowPointers<T> p{static_cast<const T*>(a.x) + row * cols,
                           a.residual ? static_cast<const T*>(a.residual) + row * cols : nullptr,
                           static_cast<T*>(a.y) + row * cols};
    float v[kChunks][kVec] = {};
    float sum = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        const int64_t i = (int64_t{c} * kWarp + lane) * kVec;
        if (i >= cols) continue;
        const P xs = *reinterpret_cast<const P*>(p.x + i);
        P rs{};
        if (p.r) rs = *reinterpret_cast<const P*>(p.r + i);
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
            v[c][k] = cg::toAcc<float>(xs.v[k]) + (p.r ? cg::toAcc<float>(rs.v[k]) : 0.0f);
            sum += v[c][k];
        }
    }
    const float mean = warpSum(sum) / static_cast<float>(cols);
    float sq = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        if ((int64_t{c} * kWarp + lane) * kVec >= cols) continue;
#pragma unroll
        for (int k = 0; k < kVec; ++k) sq += (v[c][k] - mean) * (v[c][k] - mean);
    }
    const float inv = 1.0f / sqrtf(warpSum(sq) / static_cast<float>(cols) + a.epsilon);
    const T* scale = static_cast<const T*>(a.scale);
    const T* bias = static_cast<const T*>(a.bias);
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        const int64_t i = (int64_t{c} * kWarp + lane) * kVec;
        if (i >= cols) continue;
        const P ss = *reinterpret_cast<const P*>(scale + i);
        P bs{};
        if (bias) bs = *reinterpret_cast<const P*>(bias + i);
        P out;
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
            const float b = bias ? cg::toAcc<float>(bs.v[k]) : 0.0f;
            out.v[k] = cg::fromAcc<T>((v[c][k] - mean) * inv * cg::toAcc<float>(ss.v[k]) + b);
        }
        *reinterpret_cast<P*>(p.y + i) = out;
    }
}

//! Rows of any length: three passes over global memory (the row stays in L1/L2 between them).
template <typename T>
__global__ void __launch_bounds__(kWarp* kWarpsPerBlock) rowsStreamed(RowLayerNormArgs a) {
    const int lane = static_cast<int>(threadIdx.x) % kWarp;
    const int64_t row = int64_t{blockIdx.x} * kWarpsPerBlock + static_cast<int>(threadIdx.x) / kWarp;
    if (row >= a.rows) return;
    const int64_t cols = a.cols;
    const RowPointers<T> p{static_cast<const T*>(a.x) + row * cols,
                           a.residual ? static_cast<const T*>(a.residual) + row * cols : nullptr,
                           static_cast<T*>(a.y) + row * cols};
    float sum = 0.0f;
    for (int64_t i = lane; i < cols; i += kWarp) sum += loadSum(p, i);
    const float mean = warpSum(sum) / static_cast<float>(cols);
    float sq = 0.0f;
    for (int64_t i = lane; i < cols; i += kWarp) {
        const float d = loadSum(p, i) - mean;
        sq += d * d;
    }
    const float inv = 1.0f / sqrtf(warpSum(sq) / static_cast<float>(cols) + a.epsilon);
    const T* scale = static_cast<const T*>(a.scale);
    const T* bias = static_cast<const T*>(a.bias);
    for (int64_t i = lane; i < cols; i += kWarp) {
        const float b = bias ? cg::toAcc<float>(bias[i]) : 0.0f;
        p.y[i] = cg::fromAcc<T>((loadSum(p, i) - mean) * inv * cg::toAcc<float>(scale[i]) + b);
    }
}

bool aligned(const void* p, size_t bytes) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <typename T>
cudaError_t launchAs(const RowLayerNormArgs& a, cudaStream_t stream) {
    const int64_t blocks = (a.rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
    if (blocks > INT32_MAX) return cudaErrorInvalidConfiguration;
    const dim3 grid(static_cast<unsigned>(blocks));
    const dim3 block(kWarp * kWarpsPerBlock);
    constexpr int kVec = 4;
    const size_t packBytes = sizeof(T) * kVec;
    const bool vec = a.cols % kVec == 0 && aligned(a.x, packBytes) && aligned(a.residual, packBytes) &&
                     aligned(a.scale, packBytes) && aligned(a.bias, packBytes) && aligned(a.y, packBytes);
    if (vec && a.cols <= kWarp * kVec * 2) {
        rowsInRegisters<T, kVec, 2><<<grid, block, 0, stream>>>(a);
    } else if (vec && a.cols <= kWarp * kVec * 8) {  // BERT-base's 768 and up to 1024
        rowsInRegisters<T, kVec, 8><<<grid, block, 0, stream>>>(a);
    } else if (a.cols <= kWarp * 8) {
        rowsInRegisters<T, 1, 8><<<grid, block, 0, stream>>>(a);
    } else {
        rowsStreamed<T><<<grid, block, 0, stream>>>(a);
    }
    return cudaGetLastError();
}

}  // namespace

bool rowLayerNormSupports(DataType dtype) {
    return dtype == DataType::kFloat32 || dtype == DataType::kFloat16 || dtype == DataType::kBFloat16;
}

cudaError_t launchRowLayerNorm(DataType dtype, const RowLayerNormArgs& args, cudaStream_t stream) {
    if (args.rows == 0 || args.cols == 0) return cudaSuccess;
    switch (dtype) {
        case DataType::kFloat32: return launchAs<float>(args, stream);
        case DataType::kFloat16: return launchAs<__half>(args, stream);
        case DataType::kBFloat16: return launchAs<__nv_bfloat16>(args, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace kiln::cuda
