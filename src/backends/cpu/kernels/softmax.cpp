// Softmax, LogSoftmax, Hardmax.
//
// Opset >= 13 normalizes along `axis` (default -1). Before 13 the input is viewed as a 2-D matrix
// [prod(dims[:axis]), prod(dims[axis:])] (axis default 1) and each row is normalized as a whole.
// Math is done in double with the row maximum subtracted first, so large inputs do not overflow.
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/reduce_plan.h"

namespace kiln::cpu {

namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

Status softmaxKernel(KernelContext& ctx, SoftmaxKind kind) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    const bool legacy = ctx.opset() < 13;
    const int64_t rank = x.rank();
    if (rank == 0) return invalidArgument("input 0 'input' must have rank >= 1, got a scalar");
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", legacy ? 1 : -1), rank));
    // Rows of n elements, `inner` apart, `outer * inner` of them.
    const int64_t outer = dimProduct(x.shape(), 0, axis);
    const int64_t n = legacy ? dimProduct(x.shape(), axis, rank) : x.dim(axis);
    const int64_t inner = legacy ? 1 : dimProduct(x.shape(), axis + 1, rank);
    return dispatchFloat(x.dtype(), [&]<typename T>() {
        using C = ComputeT<T>;
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), x.shape()));
        const T* in = x.data<T>();
        T* out = y->data<T>();
        std::vector<double> row(static_cast<size_t>(n));
        for (int64_t o = 0; o < outer; ++o) {
            for (int64_t i = 0; i < inner; ++i) {
                const int64_t base = o * n * inner + i;
                double mx = -std::numeric_limits<double>::infinity();
                int64_t argmax = 0;
                for (int64_t k = 0; k < n; ++k) {
                    row[static_cast<size_t>(k)] = static_cast<double>(static_cast<C>(in[base + k * inner]));
                    if (row[static_cast<size_t>(k)] > mx) {
                        mx = row[static_cast<size_t>(k)];
                        argmax = k;
                    }
                }
                if (kind == SoftmaxKind::kHardmax) {
                    for (int64_t k = 0; k < n; ++k) out[base + k * inner] = fromCompute<T>(C(k == argmax ? 1 : 0));
                    continue;
                }
                double sum = 0.0;
                for (int64_t k = 0; k < n; ++k) {
                    row[static_cast<size_t>(k)] -= mx;
                    sum += std::exp(row[static_cast<size_t>(k)]);
                }
                const double logSum = std::log(sum);
                for (int64_t k = 0; k < n; ++k) {
                    const double v = row[static_cast<size_t>(k)];
                    const double r = kind == SoftmaxKind::kSoftmax ? std::exp(v) / sum : v - logSum;
                    out[base + k * inner] = fromCompute<T>(static_cast<C>(r));
                }
            }
        }
        return Status::ok();
    });
}

}  // namespace

Status kernelSoftmax(KernelContext& ctx) { return softmaxKernel(ctx, SoftmaxKind::kSoftmax); }
Status kernelLogSoftmax(KernelContext& ctx) { return softmaxKernel(ctx, SoftmaxKind::kLogSoftmax); }
Status kernelHardmax(KernelContext& ctx) { return softmaxKernel(ctx, SoftmaxKind::kHardmax); }

}  // namespace kiln::cpu
