// Reference kernel of kiln Attention: Y = softmax(scale · Q·Kᵀ + mask) · V per (batch, head, query), with the
// scores, the softmax and the weighted sum of V in double (the unfused chain's MatMul/Softmax references are at
// least that precise, so the fused op matches them within float32 rounding). A query row whose every score is -inf
// gives NaN, as Softmax does on such a row; an empty key sequence gives zeros, as MatMul does.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/attention_plan.h"
#include "backends/cpu/kernel.h"
#include "common/dispatch.h"

namespace kiln::cpu {

Status kernelAttention(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 4));
    const Tensor& q = ctx.input(0);
    const Tensor& k = ctx.input(1);
    const Tensor& v = ctx.input(2);
    const Tensor* mask = ctx.hasInput(3) ? &ctx.input(3) : nullptr;
    const DataType maskType = mask ? mask->dtype() : DataType::kUndefined;
    KILN_RETURN_IF_ERROR(checkAttentionDtypes(q.dtype(), k.dtype(), v.dtype(), mask ? &maskType : nullptr));
    KILN_ASSIGN_OR_RETURN(AttentionPlan p,
                          planAttention(q.shape(), k.shape(), v.shape(), mask ? &mask->shape() : nullptr, ctx.attrs()));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, q.dtype(), p.outShape));
    if (y->numel() == 0 || p.sk == 0) return Status::ok();  // allocateOutput zero-fills
    return dispatchFloat(
        q.dtype(),
        [&]<typename T>() {
            const T* pq = q.data<T>();
            const T* pk = k.data<T>();
            const T* pv = v.data<T>();
            T* py = y->data<T>();
            std::vector<double> scores(static_cast<size_t>(p.sk));
            std::vector<double> acc(static_cast<size_t>(p.dv));
            for (int64_t b = 0; b < p.batch; ++b) {
                for (int64_t h = 0; h < p.heads; ++h) {
                    const T* qh = pq + b * p.q.batch + h * p.q.head;
                    const T* kh = pk + b * p.k.batch + h * p.k.head;
                    const T* vh = pv + b * p.v.batch + h * p.v.head;
                    const int64_t maskHead = b * p.mask.batch + h * p.mask.head;
                    for (int64_t i = 0; i < p.sq; ++i) {
                        double maxScore = -std::numeric_limits<double>::infinity();
                        for (int64_t j = 0; j < p.sk; ++j) {
                            double s = 0;
                            for (int64_t c = 0; c < p.d; ++c) {
                                s += static_cast<double>(static_cast<ComputeT<T>>(qh[i * p.q.seq + c])) *
                                     static_cast<double>(static_cast<ComputeT<T>>(kh[j * p.k.seq + c]));
                            }
                            s *= static_cast<double>(p.scale);
                            if (mask) s += mask->getDouble(maskHead + i * p.mask.query + j * p.mask.key);
                            if (p.causal && j > i) s = -std::numeric_limits<double>::infinity();
                            scores[static_cast<size_t>(j)] = s;
                            maxScore = std::max(maxScore, s);
                        }
                        double sum = 0;
                        for (double& s : scores) {
                            s = std::exp(s - maxScore);
                            sum += s;
                        }
                        std::fill(acc.begin(), acc.end(), 0.0);
                        for (int64_t j = 0; j < p.sk; ++j) {
                            const double w = scores[static_cast<size_t>(j)] / sum;
                            for (int64_t c = 0; c < p.dv; ++c) {
                                acc[static_cast<size_t>(c)] +=
                                    w * static_cast<double>(static_cast<ComputeT<T>>(vh[j * p.v.seq + c]));
                            }
                        }
                        T* yi = py + b * p.out.batch + h * p.out.head + i * p.out.seq;
                        for (int64_t c = 0; c < p.dv; ++c) {
                            yi[c] = fromCompute<T>(static_cast<ComputeT<T>>(acc[static_cast<size_t>(c)]));
                        }
                    }
                }
            }
            return Status::ok();
        },
        "Attention");
}

}  // namespace kiln::cpu
