// Shared helpers for the nn and quantization reference kernels (conv.cpp, pool.cpp, matmul.cpp, quantize.cpp):
// window attribute resolution (kernel/strides/dilations/pads/auto_pad), im2col/col2im, BLAS GEMM wrappers,
// the integer GEMM/convolution loops and numpy-style batched matmul planning.
//
// Spatial problems of 1 to 3 dims are padded to 3 dims (leading dims of size 1, kernel 1, stride 1, no pad), so
// every loop below is a plain triple loop instead of an N-d odometer.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "ir/attribute.h"
#include "kiln/dtype.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu::nn {

//! Checks Dropout's optional ratio (input 1) and training_mode (input 2) scalars, either may be null, and that the
//! node is the inference no-op: training with ratio > 0 is random and refused. Shared with the CUDA kernel.
Status checkDropoutIsNoOp(const Tensor* ratio, const Tensor* trainingMode);

constexpr int kMaxSpatial = 3;

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

//! A sliding-window problem padded to 3 spatial dims; the real dims are the trailing `rank`.
struct Window {
    int64_t rank = 0;
    std::array<int64_t, 3> in{1, 1, 1};
    std::array<int64_t, 3> kernel{1, 1, 1};
    std::array<int64_t, 3> stride{1, 1, 1};
    std::array<int64_t, 3> dilation{1, 1, 1};
    std::array<int64_t, 3> padBegin{0, 0, 0};
    std::array<int64_t, 3> padEnd{0, 0, 0};
    std::array<int64_t, 3> out{1, 1, 1};

    int64_t inSize() const { return in[0] * in[1] * in[2]; }
    int64_t outSize() const { return out[0] * out[1] * out[2]; }
    int64_t kernelSize() const { return kernel[0] * kernel[1] * kernel[2]; }
    //! The real (unpadded) output spatial dims.
    Shape outShape() const { return Shape(out.end() - rank, out.end()); }
};

Result<AutoPad> parseAutoPad(const ir::Attributes& attrs);

//! Reads strides/dilations/pads/auto_pad for a window over `inSpatial` with `kernel` and computes the output
//! dims. Fails (naming the attribute) on wrong lengths, non-positive values or an empty output.
//! `ceilMode` is pooling's ceil_mode (a last window must still start inside the input or its begin padding).
Result<Window> resolveWindow(const ir::Attributes& attrs, const Shape& inSpatial, const std::vector<int64_t>& kernel,
                             bool ceilMode = false);

//! Output rows (see im2col) per block so that a col buffer of `colRows` rows stays near a fixed budget.
int64_t rowsPerBlock(const Window& win, int64_t colRows);

//! Reads the kernel_shape attribute (required for pooling); checks its length and values.
Result<std::vector<int64_t>> kernelShapeAttr(const ir::Attributes& attrs, size_t spatialRank);

//! Checks an input is at least (N, C, D1) and at most 3 spatial dims; `what` names the input.
Status checkSpatialInput(const Tensor& x, const char* what);

//! The fused ConvTransposeNhwc + Concat's other inputs (inputs 3..., `others[k]` is input 3 + k, null when absent)
//! against its ConvTranspose result `y` [N, OH, OW, M]: `slot` (kiln_concat_slot) within [0, others.size()], and
//! every other input present and channels-last like `y` (rank 4, same dtype, N, H and W). The CPU reference and the
//! CUDA kernel share it, so both refuse the same nodes with the same message.
Status checkConcatSlotInputs(const Tensor& y, const std::vector<const Tensor*>& others, int64_t slot);

//! Conv/ConvInteger/QLinearConv geometry: x [N, C, in...], w [M, C/group, k...] and the resolved window.
struct ConvGeometry {
    int64_t batch = 0, inC = 0, outC = 0, group = 1;
    Window win;
    Shape outShape;  //!< [N, M, out...]
};
//! Validates x/w ranks and channel counts against `group` and kernel_shape, and resolves the window.
Result<ConvGeometry> convGeometry(const ir::Attributes& attrs, const Tensor& x, const Tensor& w);

//! ConvTranspose geometry: x [N, C, in...], w [C, M/group, k...], output [N, M, out...]. `win` is the transposed
//! problem as a forward window (col2im's view): its `in` is Y's spatial dims, its `out` X's, and padBegin the crop
//! at the start of Y (from pads, auto_pad or output_shape; output_padding extends the end).
struct ConvTransposeGeometry {
    int64_t batch = 0, inC = 0, outC = 0, group = 1;
    Window win;
    Shape outShape;
};
//! Validates x/w ranks, dtypes and channel counts and resolves the attributes (naming the one that is wrong).
Result<ConvTransposeGeometry> convTransposeGeometry(const ir::Attributes& attrs, const Tensor& x, const Tensor& w);

//! Lowers output rows [row0, row1) (a row is one (od, oh) pair of `win.out[2]` columns) of one image of
//! `channels` channels to col[(c * kernelSize + k) * cols + j]; positions in the padding read `pad`.
template <typename T>
void im2col(const T* x, int64_t channels, const Window& win, int64_t row0, int64_t row1, T pad, T* col);

//! The adjoint of im2col over output rows [row0, row1): adds col[(c * kernelSize + k) * cols + j] into the image
//! `x` (dims win.in) at the window positions; positions in the padding are dropped.
template <typename T>
void col2imAdd(const T* col, int64_t channels, const Window& win, int64_t row0, int64_t row1, T* x);

//! Row-major C = alpha * op(A) * op(B) + beta * C through OpenBLAS.
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

//! Row-major C += A * B with accumulation type Acc (integer reference loop, no transposes).
template <typename Acc, typename TA, typename TB>
void gemmLoop(int64_t m, int64_t n, int64_t k, const TA* a, int64_t lda, const TB* b, int64_t ldb, Acc* c,
              int64_t ldc) {
    for (int64_t i = 0; i < m; ++i) {
        Acc* crow = c + i * ldc;
        for (int64_t p = 0; p < k; ++p) {
            const Acc av = static_cast<Acc>(a[i * lda + p]);
            if (av == Acc(0)) continue;
            const TB* brow = b + p * ldb;
            for (int64_t j = 0; j < n; ++j) crow[j] += av * static_cast<Acc>(brow[j]);
        }
    }
}

//! Widens n float16/bfloat16 values to float (float16 through a table of all 65536 patterns: the element-wise
//! conversion is an out-of-line call, which dominates fp16 pooling and conv at ISNet's 1024x1024).
void widen(const Half* in, int64_t n, float* out);
void widen(const BFloat16* in, int64_t n, float* out);

//! Values of a float-typed tensor (float32/64, float16, bfloat16) widened to C (float or double).
template <typename C>
std::vector<C> toCompute(const Tensor& t);

//! Integer convolution shared by ConvInteger and QLinearConv: y[N, M, out] (int32) = conv(x - xZero, w - wZero[m]);
//! x: [N, C, in...] and w: [M, C/group, k...] of integer dtypes; wZero: one value per output channel.
Status convInteger(const Tensor& x, int32_t xZero, const Tensor& w, const std::vector<int32_t>& wZero,
                   const ConvGeometry& geo, int32_t* y);

//! Numpy matmul shapes: 1-D promotion and batch broadcasting.
struct MatMulPlan {
    Shape outShape;
    int64_t m = 0, n = 0, k = 0;
    std::vector<int64_t> aOffsets, bOffsets;  //!< Element offsets of each output batch's A and B matrices.
    bool bShared = false;  //!< Every batch uses the same B matrix and A's batches are contiguous (one big GEMM).
};
Result<MatMulPlan> planMatMul(const Shape& a, const Shape& b);

}  // namespace kiln::cpu::nn
