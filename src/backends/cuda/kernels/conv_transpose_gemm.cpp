#include "backends/cuda/kernels/conv_transpose_gemm.h"

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/kernels/conv_transpose_mma.h"
#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/mat_mul_lt.h"

namespace kiln::cuda {

namespace {

std::atomic<uint64_t> gRuns{0};
std::atomic<uint64_t> gSliceRuns{0};
std::atomic<uint64_t> gMmaRuns{0};

//! One ConvTranspose computed by convTransposeGemm (slice false) or convTransposeGemmSlice.
void countRun(bool slice) {
    gRuns.fetch_add(1, std::memory_order_relaxed);
    if (slice) gSliceRuns.fetch_add(1, std::memory_order_relaxed);
}

constexpr int64_t kAlignBytes = 16;

//! The problem in GEMM terms (names as in the header; the leading spatial dim of ConvShape is 1 here), and where D
//! goes: rows of `yChannels` elements (M for y alone, more for a Concat's output), `taps` taps of a row per call
//! (kW when a row's taps are contiguous in D, 1 when each tap's M columns are a slice of a wider row).
struct TapProblem {
    int64_t batch, h, w, c, m, kH, kW, outW, yChannels, taps;

    TapProblem(const ConvShape& s, int64_t yChannels, bool slice)
        : batch(s.batch),
          h(s.win.in[1]),
          w(s.win.in[2]),
          c(s.inC),
          m(s.outC),
          kH(s.win.kernel[1]),
          kW(s.win.kernel[2]),
          outW(s.win.out[2]),
          yChannels(yChannels),
          taps(slice ? 1 : kW) {}
};

//! `p` advanced by `elements` of `t`.
template <typename Void>
Void* advance(Void* p, int64_t elements, DataType t) {
    using Byte = std::conditional_t<std::is_const_v<Void>, const char, char>;
    return static_cast<Byte*>(p) + elements * static_cast<int64_t>(dataTypeSize(t));
}

//! The call for taps (i, j .. j + p.taps): D (output rows h*kH + i, columns from tap j) = A (x rows) · B_ij, plus
//! `bias` (p.taps * M values) when not null. `y` points at the output's first element of the slot.
LtGemm tapGemm(const TapProblem& p, DataType dtype, const DeviceTensor& x, const DeviceTensor& w, void* y, int64_t i,
               int64_t j, const void* bias) {
    LtGemm g;
    g.dtype = dtype;
    g.m = p.w;
    g.n = p.taps * p.m;
    g.k = p.c;
    g.lda = p.c;
    g.ldb = p.kH * p.kW * p.m;
    g.ldd = p.kW * p.yChannels;
    g.a = x.data;
    g.b = advance(w.data, (i * p.kW + j) * p.m, dtype);
    g.d = advance(y, (i * p.outW + j) * p.yChannels, dtype);
    g.bias = bias;
    if (p.kH == 1) {
        // Output row h is input row h: the (n, h) batches are consecutive rows of A and of D, one plain GEMM.
        g.m = p.batch * p.h * p.w;
        return g;
    }
    g.batch = p.batch * p.h;
    g.strideA = p.w * p.c;
    g.strideD = p.kH * p.outW * p.yChannels;
    return g;
}

Status runTaps(CudaKernelContext& ctx, const TapProblem& p, DataType dtype, const DeviceTensor& x,
               const DeviceTensor& w, void* y, const void* bias) {
    for (int64_t i = 0; i < p.kH; ++i) {
        for (int64_t j = 0; j < p.kW; j += p.taps) {
            KILN_RETURN_IF_ERROR(runLtGemm(ctx, tapGemm(p, dtype, x, w, y, i, j, bias)));
        }
    }
    return Status::ok();
}

//! The bias as the epilogue's per-column vector: bias[m] at column j*M + m for each of the taps of a call (a
//! workspace copy unless that is one tap). kUnsupported when the copy does not fit the workspace limit.
Result<const void*> columnBias(CudaKernelContext& ctx, const TapProblem& p, DataType dtype, const DeviceTensor& bias) {
    if (p.taps == 1) return bias.data;
    KILN_ASSIGN_OR_RETURN(void* columns, scratchBuffer(ctx, dtype, p.taps * p.m));
    KILN_CUDA_CHECK(launchStridedGather(bias.data, columns, dataTypeSize(dtype), 0,
                                        {GatherDim{p.taps, 0}, GatherDim{p.m, 1}}, nullptr, ctx.stream()));
    return static_cast<const void*>(columns);
}

//! Kiln's one-pass kernel for a slot where it is the better choice (C <= kConvTransposeMmaMaxChannels); kUnsupported
//! where it is not or cannot run, and the caller goes on to cuBLASLt.
Status preferMma(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                 const DeviceTensor* bias, void* out, int64_t outChannels, int64_t offset, ConvTransposeEngine engine) {
    if (engine == ConvTransposeEngine::kCublasLt) return unsupported("cuBLASLt asked for");
    if (s.inC > kConvTransposeMmaMaxChannels) return unsupported("deeper input: cuBLASLt's GEMMs are faster");
    return convTransposeMma(ctx, s, x, w, bias, out, outChannels, offset);
}

}  // namespace

bool convTransposeIsGemm(const ConvShape& s) {
    const bool gemmType =
        s.dtype == DataType::kFloat32 || s.dtype == DataType::kFloat16 || s.dtype == DataType::kBFloat16;
    if (!gemmType || s.group != 1 || s.rank != 2) return false;
    for (int d = 0; d < kConvSpatial; ++d) {
        // out == in * stride with no crop at the start: pads at the end and output_padding (or output_shape) leave
        // exactly the taps' blocks, whatever their values.
        if (s.win.kernel[d] != s.win.stride[d] || s.win.dilation[d] != 1 || s.win.padBegin[d] != 0 ||
            s.win.out[d] != s.win.in[d] * s.win.stride[d]) {
            return false;
        }
    }
    return true;
}

Status convTransposeGemm(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                         const DeviceTensor* bias, DeviceTensor& y) {
    if (!convTransposeIsGemm(s)) return unsupported("the ConvTranspose's taps overlap: not a GEMM");
    if (ctx.run.cublasLt == nullptr) return unsupported("no cuBLASLt handle in this run");
    const TapProblem p(s, s.outC, false);
    const void* fusedBias = nullptr;
    if (bias) {
        Result<const void*> columns = columnBias(ctx, p, s.dtype, *bias);
        if (columns.isOk()) {
            fusedBias = *columns;
        } else if (columns.status().code() != ErrorCode::kUnsupported) {
            return columns.status();
        }
    }
    Status st = runTaps(ctx, p, s.dtype, x, w, y.data, fusedBias);
    if (st.code() == ErrorCode::kUnsupported && fusedBias) {
        // No algorithm with the BIAS epilogue here: the plain products, then Kiln's bias pass below.
        fusedBias = nullptr;
        st = runTaps(ctx, p, s.dtype, x, w, y.data, nullptr);
    }
    KILN_RETURN_IF_ERROR(st);
    if (bias && !fusedBias) KILN_RETURN_IF_ERROR(runEpilogue(ctx, y, bias, 1, nullptr, EpilogueActivation{}));
    countRun(false);
    return Status::ok();
}

bool convTransposeSliceAligned(DataType dtype, int64_t m, int64_t outChannels, int64_t offset) {
    const auto elem = static_cast<int64_t>(dataTypeSize(dtype));
    return m * elem % kAlignBytes == 0 && outChannels * elem % kAlignBytes == 0 && offset * elem % kAlignBytes == 0;
}

Status convTransposeGemmSlice(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                              const DeviceTensor* bias, void* out, int64_t outChannels, int64_t offset,
                              ConvTransposeEngine engine) {
    if (!convTransposeIsGemm(s)) return unsupported("the ConvTranspose's taps overlap: not a GEMM");
    const Status mma = preferMma(ctx, s, x, w, bias, out, outChannels, offset, engine);
    if (mma.code() != ErrorCode::kUnsupported) {
        if (mma.isOk()) countRun(true);
        return mma;
    }
    if (ctx.run.cublasLt == nullptr) return unsupported("no cuBLASLt handle in this run");
    void* slot = advance(out, offset, s.dtype);
    if (!convTransposeSliceAligned(s.dtype, s.outC, outChannels, offset) ||
        reinterpret_cast<uintptr_t>(slot) % kAlignBytes != 0) {
        return unsupported("the Concat slot is not 16-byte aligned");
    }
    // One tap per call: the slot's M columns of a row are not next to the row's other taps. The bias is M values, as
    // the epilogue wants them; without an algorithm for it the caller computes the slot another way.
    KILN_RETURN_IF_ERROR(
        runTaps(ctx, TapProblem(s, outChannels, true), s.dtype, x, w, slot, bias ? bias->data : nullptr));
    countRun(true);
    return Status::ok();
}

Status convTransposeMma(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                        const DeviceTensor* bias, void* out, int64_t outChannels, int64_t offset) {
    if (!convTransposeIsGemm(s)) return unsupported("the ConvTranspose's taps overlap: not a GEMM");
    ConvTransposeMmaParams p;
    p.input = x.data;
    p.weights = w.data;
    p.bias = bias ? bias->data : nullptr;
    p.out = out;
    p.batch = s.batch;
    p.h = s.win.in[1];
    p.w = s.win.in[2];
    p.c = s.inC;
    p.m = s.outC;
    p.kH = s.win.kernel[1];
    p.kW = s.win.kernel[2];
    p.outChannels = outChannels;
    p.offset = offset;
    if (!convTransposeMmaSupports(s.dtype, p)) {
        return unsupported(
            "Kiln's ConvTranspose kernel wants float16/bfloat16, channels and the slot in multiples of "
            "8 and 16-byte aligned operands");
    }
    KILN_CUDA_CHECK(launchConvTransposeMma(s.dtype, p, ctx.stream()));
    gMmaRuns.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

uint64_t convTransposeGemmRuns() { return gRuns.load(std::memory_order_relaxed); }

uint64_t convTransposeGemmSliceRuns() { return gSliceRuns.load(std::memory_order_relaxed); }

uint64_t convTransposeMmaRuns() { return gMmaRuns.load(std::memory_order_relaxed); }

}  // namespace kiln::cuda
