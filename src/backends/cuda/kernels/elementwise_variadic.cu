// Variadic broadcasting ops (Sum Mean Max Min) and Where on the GPU. The fold accumulates in the compute type over
// all inputs and rounds once, in input order, like the CPU reference (backends/cpu/kernels/
// elementwise_variadic.cpp); more than kMaxFoldInputs inputs take several passes through a compute-type
// accumulator in the workspace.
#include <algorithm>
#include <type_traits>

#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/elementwise_kernels.cuh"

namespace kiln::cuda {

namespace {

constexpr int kMaxFoldInputs = 8;

struct SumOp {
    template <typename C>
    __host__ __device__ C operator()(C acc, C v) const {
        return acc + v;
    }
};

//! Max (kMax) or Min: NaN propagates (numpy.maximum/minimum); ties keep the accumulator.
template <bool kMax>
struct ExtremumOp {
    template <typename C>
    __host__ __device__ C operator()(C acc, C v) const {
        if (isNan(acc) || isNan(v)) return isNan(acc) ? acc : v;
        const bool keep = kMax ? acc >= v : acc <= v;
        return keep ? acc : v;
    }
};

template <typename T>
struct FoldArgs {
    const T* inputs[kMaxFoldInputs] = {};
    int count = 0;                   //!< inputs used in this pass
    const AccT<T>* accIn = nullptr;  //!< the previous passes' accumulator, or null on the first pass
    AccT<T>* accOut = nullptr;       //!< where a non-final pass leaves the accumulator
    T* out = nullptr;                //!< the output, on the final pass
    double meanDivisor = 0.0;        //!< Mean: the total input count; 0 otherwise
};

template <typename T, typename Op>
__global__ void __launch_bounds__(kBlockSize)
    foldKernel(FoldArgs<T> args, int64_t n, BroadcastMap<kMaxFoldInputs> map, Op op) {
    using C = AccT<T>;
    for (int64_t i = globalThreadIndex(); i < n; i += gridStride()) {
        int64_t off[kMaxFoldInputs];
        map.offsets(i, off);
        C acc = args.accIn ? args.accIn[i] : loadAcc(args.inputs[0][off[0]]);
#pragma unroll
        for (int k = 0; k < kMaxFoldInputs; ++k) {
            if (k >= args.count) break;
            if (k == 0 && !args.accIn) continue;
            acc = op(acc, loadAcc(args.inputs[k][off[k]]));
        }
        if (args.out) {
            // Mean divides in double as the CPU does (v / count with a double count), then rounds.
            if (args.meanDivisor > 0.0) acc = static_cast<C>(static_cast<double>(acc) / args.meanDivisor);
            args.out[i] = storeAs<T>(acc);
        } else {
            args.accOut[i] = acc;
        }
    }
}

template <typename T, typename Op>
Status runFold(Op op, bool mean, const std::vector<const void*>& inputs, const std::vector<Dims>& shapes, void* y,
               const Dims& yShape, void* workspace, cudaStream_t stream) {
    const int64_t n = numelOf(yShape);
    if (n <= 0) return Status::ok();
    const size_t total = inputs.size();
    auto* acc = static_cast<AccT<T>*>(workspace);
    if (total > static_cast<size_t>(kMaxFoldInputs) && acc == nullptr) {
        return internalError("variadic op over " + std::to_string(total) + " inputs needs a workspace");
    }
    const LaunchConfig cfg = gridStrideConfig(n);
    const Dims scalar;
    for (size_t first = 0; first < total; first += kMaxFoldInputs) {
        const size_t count = std::min(total - first, static_cast<size_t>(kMaxFoldInputs));
        FoldArgs<T> args;
        const Dims* passShapes[kMaxFoldInputs];
        for (size_t k = 0; k < static_cast<size_t>(kMaxFoldInputs); ++k) {
            // Unused slots look like scalars: all-zero strides never stop dims from merging.
            passShapes[k] = k < count ? &shapes[first + k] : &scalar;
            if (k < count) args.inputs[k] = static_cast<const T*>(inputs[first + k]);
        }
        args.count = static_cast<int>(count);
        args.accIn = first == 0 ? nullptr : acc;
        const bool last = first + count == total;
        args.out = last ? static_cast<T*>(y) : nullptr;
        args.accOut = last ? nullptr : acc;
        args.meanDivisor = mean ? static_cast<double>(total) : 0.0;
        BroadcastMap<kMaxFoldInputs> map;
        KILN_RETURN_IF_ERROR(makeBroadcastMap<kMaxFoldInputs>(yShape, passShapes, map));
        foldKernel<T, Op><<<cfg.blocks, cfg.threads, 0, stream>>>(args, n, map, op);
        KILN_CUDA_CHECK(cudaGetLastError());
    }
    return Status::ok();
}

template <VariadicOp kOp, typename Op>
Status run(DataType dtype, Op op, const std::vector<const void*>& inputs, const std::vector<Dims>& shapes, void* y,
           const Dims& yShape, void* workspace, cudaStream_t stream) {
    return dispatchDtype<variadicDtypes(kOp)>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return runFold<T>(op, kOp == VariadicOp::kMean, inputs, shapes, y, yShape, workspace, stream);
    });
}

//! Where copies raw elements: E is an unsigned integer of the element's size.
template <typename E>
__global__ void __launch_bounds__(kBlockSize)
    whereKernel(const bool* __restrict__ cond, const E* __restrict__ x, const E* __restrict__ y, E* __restrict__ out,
                int64_t n, BroadcastMap<3> map) {
    for (int64_t i = globalThreadIndex(); i < n; i += gridStride()) {
        int64_t off[3];
        map.offsets(i, off);
        out[i] = cond[off[0]] ? x[off[1]] : y[off[2]];
    }
}

template <typename E>
Status runWhere(const bool* cond, const Dims& condShape, const void* x, const Dims& xShape, const void* y,
                const Dims& yShape, void* out, const Dims& outShape, cudaStream_t stream) {
    const int64_t n = numelOf(outShape);
    if (n <= 0) return Status::ok();
    BroadcastMap<3> map;
    const Dims* shapes[3] = {&condShape, &xShape, &yShape};
    KILN_RETURN_IF_ERROR(makeBroadcastMap<3>(outShape, shapes, map));
    const LaunchConfig cfg = gridStrideConfig(n);
    whereKernel<E><<<cfg.blocks, cfg.threads, 0, stream>>>(cond, static_cast<const E*>(x), static_cast<const E*>(y),
                                                           static_cast<E*>(out), n, map);
    KILN_CUDA_CHECK(cudaGetLastError());
    return Status::ok();
}

}  // namespace

size_t variadicWorkspaceBytes(DataType dtype, size_t numInputs, int64_t count) {
    if (numInputs <= static_cast<size_t>(kMaxFoldInputs) || count <= 0) return 0;
    size_t bytes = 0;
    (void)dispatchDtype<dtypes::kNumeric>(dtype, [&](auto tag) {
        bytes = sizeof(AccT<typename decltype(tag)::type>) * static_cast<size_t>(count);
        return Status::ok();
    });
    return bytes;
}

Status launchVariadic(VariadicOp op, DataType dtype, const std::vector<const void*>& inputs,
                      const std::vector<Dims>& shapes, void* y, const Dims& yShape, void* workspace,
                      cudaStream_t stream) {
    if (inputs.empty() || inputs.size() != shapes.size()) {
        return internalError("variadic op needs one shape per input and at least one input");
    }
    switch (op) {
        case VariadicOp::kSum:
            return run<VariadicOp::kSum>(dtype, SumOp(), inputs, shapes, y, yShape, workspace, stream);
        case VariadicOp::kMean:
            return run<VariadicOp::kMean>(dtype, SumOp(), inputs, shapes, y, yShape, workspace, stream);
        case VariadicOp::kMax:
            return run<VariadicOp::kMax>(dtype, ExtremumOp<true>(), inputs, shapes, y, yShape, workspace, stream);
        case VariadicOp::kMin:
            return run<VariadicOp::kMin>(dtype, ExtremumOp<false>(), inputs, shapes, y, yShape, workspace, stream);
    }
    return internalError("unknown variadic op " + std::to_string(static_cast<int>(op)));
}

Status launchWhere(size_t elementSize, const bool* cond, const Dims& condShape, const void* x, const Dims& xShape,
                   const void* y, const Dims& yShape, void* out, const Dims& outShape, cudaStream_t stream) {
    switch (elementSize) {
        case 1: return runWhere<uint8_t>(cond, condShape, x, xShape, y, yShape, out, outShape, stream);
        case 2: return runWhere<uint16_t>(cond, condShape, x, xShape, y, yShape, out, outShape, stream);
        case 4: return runWhere<uint32_t>(cond, condShape, x, xShape, y, yShape, out, outShape, stream);
        case 8: return runWhere<uint64_t>(cond, condShape, x, xShape, y, yShape, out, outShape, stream);
        default: return unsupported("Where of " + std::to_string(elementSize) + "-byte elements");
    }
}

}  // namespace kiln::cuda
