#include <type_traits>

#include "backends/cuda/kernels/conv_gemm_common.cuh"
#include "backends/cuda/kernels/mat_mul.h"

namespace kiln::cuda {

namespace {

template <typename T>
using IntAcc = std::conditional_t<std::is_signed<T>::value, int64_t, uint64_t>;

template <typename T>
__global__ void integerMatMulKernel(const T* a, const T* b, T* y, int64_t batch, int64_t m, int64_t n, int64_t k,
                                    int64_t strideA, int64_t strideB) {
    using A = IntAcc<T>;
    const int64_t total = batch * m * n;
    for (int64_t idx = cg::globalThread(); idx < total; idx += cg::gridThreads()) {
        const int64_t j = idx % n;
        const int64_t i = (idx / n) % m;
        const int64_t bt = idx / (m * n);
        const T* arow = a + bt * strideA + i * k;
        const T* bcol = b + bt * strideB + j;
        A acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += static_cast<A>(arow[p]) * static_cast<A>(bcol[p * n]);
        y[idx] = static_cast<T>(acc);
    }
}

template <typename T>
__global__ void integerGemmKernel(const T* a, const T* b, const T* c, T* y, int64_t m, int64_t n, int64_t k,
                                  bool transA, bool transB, double alpha, double beta, int64_t cStrideM,
                                  int64_t cStrideN) {
    using A = IntAcc<T>;
    for (int64_t idx = cg::globalThread(); idx < m * n; idx += cg::gridThreads()) {
        const int64_t i = idx / n;
        const int64_t j = idx % n;
        A acc = 0;
        for (int64_t p = 0; p < k; ++p) {
            const A av = static_cast<A>(transA ? a[p * m + i] : a[i * k + p]);
            const A bv = static_cast<A>(transB ? b[j * k + p] : b[p * n + j]);
            acc += av * bv;
        }
        double v = alpha * static_cast<double>(acc);
        if (c) v += beta * static_cast<double>(c[i * cStrideM + j * cStrideN]);
        y[idx] = static_cast<T>(v);
    }
}

template <typename T>
__global__ void broadcastMatrixKernel(const T* c, T* y, int64_t m, int64_t n, int64_t cStrideM, int64_t cStrideN,
                                      cg::Acc<T> scale) {
    using A = cg::Acc<T>;
    for (int64_t idx = cg::globalThread(); idx < m * n; idx += cg::gridThreads()) {
        y[idx] = cg::fromAcc<T>(scale * cg::toAcc<A>(c[(idx / n) * cStrideM + (idx % n) * cStrideN]));
    }
}

}  // namespace

cudaError_t launchIntegerMatMul(DataType dtype, const void* a, const void* b, void* y, int64_t batch, int64_t m,
                                int64_t n, int64_t k, int64_t strideA, int64_t strideB, cudaStream_t stream) {
    const int64_t total = batch * m * n;
    if (total == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kInteger>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        integerMatMulKernel<T><<<cg::gridFor(total), cg::kBlock, 0, stream>>>(
            static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(y), batch, m, n, k, strideA, strideB);
        return cudaGetLastError();
    });
}

cudaError_t launchIntegerGemm(DataType dtype, const void* a, const void* b, const void* c, void* y, int64_t m,
                              int64_t n, int64_t k, bool transA, bool transB, double alpha, double beta,
                              int64_t cStrideM, int64_t cStrideN, cudaStream_t stream) {
    if (m * n == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kInteger>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        integerGemmKernel<T><<<cg::gridFor(m * n), cg::kBlock, 0, stream>>>(
            static_cast<const T*>(a), static_cast<const T*>(b), static_cast<const T*>(c), static_cast<T*>(y), m, n, k,
            transA, transB, alpha, beta, cStrideM, cStrideN);
        return cudaGetLastError();
    });
}

cudaError_t launchBroadcastMatrix(DataType dtype, const void* c, void* y, int64_t m, int64_t n, int64_t cStrideM,
                                  int64_t cStrideN, double scale, cudaStream_t stream) {
    if (m * n == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        broadcastMatrixKernel<T><<<cg::gridFor(m * n), cg::kBlock, 0, stream>>>(
            static_cast<const T*>(c), static_cast<T*>(y), m, n, cStrideM, cStrideN, static_cast<cg::Acc<T>>(scale));
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
