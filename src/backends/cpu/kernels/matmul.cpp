// Matrix products: MatMul, Gemm, Einsum, Det. Float types go through OpenBLAS (float16/bfloat16 widened to float
// and rounded once at the end); integer types use plain loops with 64-bit accumulation.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/kernel.h"
#include "backends/cpu/nn_common.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

//! BLAS type for a float storage type: double for double, float otherwise.
template <typename T>
using BlasT = std::conditional_t<std::is_same_v<T, double>, double, float>;

//! Accumulator for integer loops.
template <typename T>
using IntAccT = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;

//! A float tensor's data as BLAS type B: the tensor's own buffer when the types match, else a widened copy.
template <typename T>
struct BlasView {
    std::vector<BlasT<T>> copy;
    const BlasT<T>* data = nullptr;
    explicit BlasView(const Tensor& t) {
        if constexpr (std::is_same_v<T, BlasT<T>>) {
            data = t.data<T>();
        } else {
            copy = nn::toCompute<BlasT<T>>(t);
            data = copy.data();
        }
    }
};

//! An output buffer of BLAS type: the output tensor itself when the types match, else a scratch buffer that
//! `finish` rounds into the output once.
template <typename T>
struct BlasOut {
    Tensor* out;
    std::vector<BlasT<T>> scratch;
    BlasT<T>* data = nullptr;
    explicit BlasOut(Tensor* y) : out(y) {
        if constexpr (std::is_same_v<T, BlasT<T>>) {
            data = y->data<T>();
        } else {
            scratch.assign(static_cast<size_t>(y->numel()), BlasT<T>(0));
            data = scratch.data();
        }
    }
    void finish() {
        if constexpr (!std::is_same_v<T, BlasT<T>>) {
            T* p = out->data<T>();
            for (size_t i = 0; i < scratch.size(); ++i) p[i] = fromCompute<T>(scratch[i]);
        }
    }
};

Status sameDtype(const Tensor& a, const Tensor& b, const char* nameA, const char* nameB) {
    if (a.dtype() == b.dtype()) return Status::ok();
    return invalidArgument(std::string("inputs '") + nameA + "' and '" + nameB + "' must have the same dtype, got " +
                           dataTypeName(a.dtype()) + " and " + dataTypeName(b.dtype()));
}

}  // namespace

Status kernelMatMul(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    KILN_RETURN_IF_ERROR(sameDtype(a, b, "A", "B"));
    KILN_ASSIGN_OR_RETURN(nn::MatMulPlan plan, nn::planMatMul(a.shape(), b.shape()));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, a.dtype(), plan.outShape));
    const int64_t batches = static_cast<int64_t>(plan.aOffsets.size());
    const int64_t m = plan.m, n = plan.n, k = plan.k;
    return dispatchNumeric(
        a.dtype(),
        [&]<typename T>() {
            if constexpr (std::is_floating_point_v<ComputeT<T>>) {
                BlasView<T> va(a), vb(b);
                BlasOut<T> vy(y);
                if (plan.bShared) {
                    nn::gemm(false, false, batches * m, n, k, 1, va.data, k, vb.data, n, 0, vy.data, n);
                } else {
                    for (int64_t i = 0; i < batches; ++i) {
                        nn::gemm(false, false, m, n, k, 1, va.data + plan.aOffsets[i], k, vb.data + plan.bOffsets[i], n,
                                 0, vy.data + i * m * n, n);
                    }
                }
                vy.finish();
            } else {
                using Acc = IntAccT<T>;
                std::vector<Acc> acc(static_cast<size_t>(m * n));
                T* out = y->data<T>();
                for (int64_t i = 0; i < batches; ++i) {
                    std::fill(acc.begin(), acc.end(), Acc(0));
                    nn::gemmLoop<Acc>(m, n, k, a.data<T>() + plan.aOffsets[i], k, b.data<T>() + plan.bOffsets[i], n,
                                      acc.data(), n);
                    for (int64_t j = 0; j < m * n; ++j) out[i * m * n + j] = static_cast<T>(acc[j]);
                }
            }
            return Status::ok();
        },
        "MatMul");
}

Status kernelGemm(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(ctx.opset() < 11 ? 3 : 2, 3));
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    const Tensor* c = ctx.hasInput(2) ? &ctx.input(2) : nullptr;
    KILN_RETURN_IF_ERROR(sameDtype(a, b, "A", "B"));
    if (c) KILN_RETURN_IF_ERROR(sameDtype(a, *c, "A", "C"));
    if (a.rank() != 2 || b.rank() != 2) {
        return invalidArgument("inputs 'A' and 'B' must be 2-D, got " + a.describe() + " and " + b.describe());
    }
    const bool transA = ctx.attrs().getInt("transA", 0) != 0;
    const bool transB = ctx.attrs().getInt("transB", 0) != 0;
    const float alpha = ctx.attrs().getFloat("alpha", 1.0f);
    const float beta = ctx.attrs().getFloat("beta", 1.0f);
    const int64_t m = transA ? a.dim(1) : a.dim(0);
    const int64_t k = transA ? a.dim(0) : a.dim(1);
    const int64_t n = transB ? b.dim(0) : b.dim(1);
    if ((transB ? b.dim(1) : b.dim(0)) != k) {
        return invalidArgument("inner dims differ: A " + a.describe() + (transA ? " (transposed)" : "") + ", B " +
                               b.describe() + (transB ? " (transposed)" : ""));
    }
    const Shape outShape{m, n};
    if (c) {
        auto bc = broadcastShapes({c->shape(), outShape});
        if (!bc.isOk() || *bc != outShape) {
            return invalidArgument("input 'C' " + c->describe() + " cannot be broadcast to " + shapeToString(outShape));
        }
    }
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, a.dtype(), outShape));
    return dispatchNumeric(
        a.dtype(),
        [&]<typename T>() {
            using C = ComputeT<T>;
            if constexpr (std::is_floating_point_v<C>) {
                using B = BlasT<T>;
                BlasView<T> va(a), vb(b);
                BlasOut<T> vy(y);
                if (c && beta != 0.0f) {
                    const BroadcastIndexer ic(c->shape(), outShape);
                    const T* pc = c->data<T>();
                    for (int64_t i = 0; i < m * n; ++i) vy.data[i] = static_cast<B>(beta) * static_cast<B>(pc[ic(i)]);
                }
                nn::gemm(transA, transB, m, n, k, static_cast<B>(alpha), va.data, a.dim(1), vb.data, b.dim(1),
                         B(c && beta != 0.0f ? 1 : 0), vy.data, n);
                vy.finish();
            } else {
                // Integer Gemm: exact integer products, scaled by alpha/beta in double (the spec's float attributes).
                using Acc = IntAccT<T>;
                const T* pa = a.data<T>();
                const T* pb = b.data<T>();
                T* out = y->data<T>();
                const BroadcastIndexer ic(c ? c->shape() : Shape{}, outShape);
                for (int64_t i = 0; i < m; ++i) {
                    for (int64_t j = 0; j < n; ++j) {
                        Acc acc = 0;
                        for (int64_t p = 0; p < k; ++p) {
                            const Acc av = static_cast<Acc>(transA ? pa[p * m + i] : pa[i * k + p]);
                            const Acc bv = static_cast<Acc>(transB ? pb[j * k + p] : pb[p * n + j]);
                            acc += av * bv;
                        }
                        double v = static_cast<double>(alpha) * static_cast<double>(acc);
                        if (c) v += static_cast<double>(beta) * static_cast<double>(c->data<T>()[ic(i * n + j)]);
                        out[i * n + j] = static_cast<T>(v);
                    }
                }
            }
            return Status::ok();
        },
        "Gemm");
}

namespace {

constexpr int kLetters = 52;

int labelOf(char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return 26 + (ch - 'a');
    return -1;
}

//! One einsum term: labels in order; an ellipsis is recorded by its position.
struct Term {
    std::vector<int> labels;
    int ellipsisAt = -1;  // index in `labels` where the ellipsis dims go, -1 if none
};

Result<Term> parseTerm(const std::string& s, const std::string& equation) {
    Term term;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (term.ellipsisAt >= 0 || s.compare(i, 3, "...") != 0) {
                return invalidArgument("attribute 'equation' '" + equation + "' has a malformed ellipsis");
            }
            term.ellipsisAt = static_cast<int>(term.labels.size());
            i += 2;
            continue;
        }
        const int l = labelOf(s[i]);
        if (l < 0) {
            return invalidArgument("attribute 'equation' '" + equation + "' has an invalid character '" +
                                   std::string(1, s[i]) + "'");
        }
        term.labels.push_back(l);
    }
    return term;
}

//! Expands a term's ellipsis into labels kLetters + e (right-aligned over `ellipsisRank` dims), given its rank.
std::vector<int> expandTerm(const Term& t, int64_t ellipsisDims, int64_t ellipsisRank) {
    std::vector<int> out(t.labels.begin(), t.labels.end());
    if (t.ellipsisAt >= 0) {
        std::vector<int> e;
        for (int64_t i = ellipsisRank - ellipsisDims; i < ellipsisRank; ++i)
            e.push_back(kLetters + static_cast<int>(i));
        out.insert(out.begin() + t.ellipsisAt, e.begin(), e.end());
    }
    return out;
}

}  // namespace

Status kernelEinsum(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1));
    std::string equation;
    for (char ch : ctx.attrs().getString("equation")) {
        if (ch != ' ') equation += ch;
    }
    if (equation.empty()) return invalidArgument("attribute 'equation' is required");
    const size_t arrow = equation.find("->");
    const std::string lhs = equation.substr(0, arrow);
    std::vector<Term> terms;
    for (size_t start = 0;;) {
        const size_t comma = lhs.find(',', start);
        KILN_ASSIGN_OR_RETURN(Term t, parseTerm(lhs.substr(start, comma - start), equation));
        terms.push_back(std::move(t));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    const size_t numOps = ctx.numInputs();
    if (terms.size() != numOps) {
        return invalidArgument("attribute 'equation' '" + equation + "' has " + std::to_string(terms.size()) +
                               " operands but the node has " + std::to_string(numOps) + " inputs");
    }
    const DataType dtype = ctx.input(0).dtype();
    for (size_t i = 0; i < numOps; ++i) {
        if (!ctx.hasInput(i)) return invalidArgument("input " + std::to_string(i) + " is missing");
        if (ctx.input(i).dtype() != dtype) {
            return invalidArgument("input " + std::to_string(i) + " is " + ctx.input(i).describe() + ", expected " +
                                   dataTypeName(dtype));
        }
    }

    // Ellipsis dims per operand and the broadcast ellipsis rank.
    int64_t ellipsisRank = 0;
    std::vector<int64_t> ellipsisDims(numOps, 0);
    for (size_t i = 0; i < numOps; ++i) {
        const int64_t rank = ctx.input(i).rank();
        const int64_t named = static_cast<int64_t>(terms[i].labels.size());
        const int64_t extra = rank - named;
        if (extra < 0 || (extra > 0 && terms[i].ellipsisAt < 0)) {
            return invalidArgument("input " + std::to_string(i) + " " + ctx.input(i).describe() +
                                   " does not match term " + std::to_string(i) + " of equation '" + equation + "'");
        }
        ellipsisDims[i] = extra;
        ellipsisRank = std::max(ellipsisRank, extra);
    }
    const int numLabels = kLetters + static_cast<int>(ellipsisRank);
    std::vector<int64_t> sizes(static_cast<size_t>(numLabels), -1);
    std::vector<int> counts(static_cast<size_t>(numLabels), 0);
    std::vector<std::vector<int>> opLabels(numOps);
    for (size_t i = 0; i < numOps; ++i) {
        opLabels[i] = expandTerm(terms[i], ellipsisDims[i], ellipsisRank);
        const Shape& shape = ctx.input(i).shape();
        for (size_t d = 0; d < opLabels[i].size(); ++d) {
            const int l = opLabels[i][d];
            ++counts[l];
            int64_t& s = sizes[l];
            if (s == -1 || s == 1) {
                s = shape[d];
            } else if (shape[d] != s && shape[d] != 1) {
                return invalidArgument("equation '" + equation + "': dimension " + std::to_string(d) + " of input " +
                                       std::to_string(i) + " " + ctx.input(i).describe() +
                                       " does not match the other uses of its label (size " + std::to_string(s) + ")");
            }
        }
    }
    // Output labels: explicit, or the ellipsis then the labels used once, alphabetically.
    std::vector<int> outLabels;
    if (arrow != std::string::npos) {
        KILN_ASSIGN_OR_RETURN(Term outTerm, parseTerm(equation.substr(arrow + 2), equation));
        outLabels = expandTerm(outTerm, outTerm.ellipsisAt >= 0 ? ellipsisRank : 0, ellipsisRank);
        std::vector<bool> seen(static_cast<size_t>(numLabels), false);
        for (int l : outLabels) {
            if (counts[l] == 0 || seen[l]) {
                return invalidArgument("equation '" + equation + "': output labels must be distinct input labels");
            }
            seen[l] = true;
        }
    } else {
        for (int l = kLetters; l < numLabels; ++l) outLabels.push_back(l);
        for (int l = 0; l < kLetters; ++l) {
            if (counts[l] == 1) outLabels.push_back(l);
        }
    }
    // Loop order: output labels, then the summed labels.
    std::vector<int> loop = outLabels;
    for (int l = 0; l < numLabels; ++l) {
        if (counts[l] > 0 && std::find(outLabels.begin(), outLabels.end(), l) == outLabels.end()) loop.push_back(l);
    }
    Shape outShape;
    for (int l : outLabels) outShape.push_back(sizes[l]);
    const size_t L = loop.size();
    std::vector<int64_t> loopSizes(L);
    std::vector<std::vector<int64_t>> opStrides(numOps, std::vector<int64_t>(L, 0));
    std::vector<int64_t> outStrides(L, 0);
    for (size_t j = 0; j < L; ++j) loopSizes[j] = sizes[loop[j]];
    for (size_t i = 0; i < numOps; ++i) {
        const auto strides = stridesOf(ctx.input(i).shape());
        for (size_t d = 0; d < opLabels[i].size(); ++d) {
            if (ctx.input(i).dim(static_cast<int64_t>(d)) == 1) continue;  // broadcast dim
            const size_t j = static_cast<size_t>(std::find(loop.begin(), loop.end(), opLabels[i][d]) - loop.begin());
            opStrides[i][j] += strides[d];  // repeated labels sum their strides: the diagonal
        }
    }
    const auto outStride = stridesOf(outShape);
    for (size_t j = 0; j < outLabels.size(); ++j) outStrides[j] = outStride[j];

    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, dtype, outShape));
    return dispatchNumeric(
        dtype,
        [&]<typename T>() {
            using Acc = std::conditional_t<std::is_floating_point_v<ComputeT<T>>, double, IntAccT<T>>;
            std::vector<std::vector<Acc>> ops(numOps);
            for (size_t i = 0; i < numOps; ++i) {
                const Tensor& t = ctx.input(i);
                ops[i].resize(static_cast<size_t>(t.numel()));
                for (int64_t e = 0; e < t.numel(); ++e)
                    ops[i][e] = static_cast<Acc>(static_cast<ComputeT<T>>(t.data<T>()[e]));
            }
            std::vector<Acc> acc(static_cast<size_t>(shapeNumel(outShape)), Acc(0));
            int64_t total = 1;
            for (int64_t s : loopSizes) total *= s;
            if (total > 0) {
                const int64_t inner = L ? loopSizes[L - 1] : 1;
                std::vector<int64_t> idx(L, 0), offs(numOps, 0);
                int64_t outOff = 0;
                while (true) {
                    for (int64_t t = 0; t < inner; ++t) {
                        Acc prod = Acc(1);
                        for (size_t i = 0; i < numOps; ++i) prod *= ops[i][offs[i] + (L ? t * opStrides[i][L - 1] : 0)];
                        acc[outOff + (L ? t * outStrides[L - 1] : 0)] += prod;
                    }
                    // Advance the odometer over all but the innermost loop label.
                    int64_t j = static_cast<int64_t>(L) - 2;
                    for (; j >= 0; --j) {
                        const size_t u = static_cast<size_t>(j);
                        ++idx[u];
                        for (size_t i = 0; i < numOps; ++i) offs[i] += opStrides[i][u];
                        outOff += outStrides[u];
                        if (idx[u] < loopSizes[u]) break;
                        for (size_t i = 0; i < numOps; ++i) offs[i] -= opStrides[i][u] * loopSizes[u];
                        outOff -= outStrides[u] * loopSizes[u];
                        idx[u] = 0;
                    }
                    if (j < 0) break;
                }
            }
            T* out = y->data<T>();
            for (size_t e = 0; e < acc.size(); ++e) out[e] = fromCompute<T>(static_cast<ComputeT<T>>(acc[e]));
            return Status::ok();
        },
        "Einsum");
}

Status kernelDet(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2 || x.dim(-1) != x.dim(-2)) {
        return invalidArgument("input 'X' must be [..., M, M], got " + x.describe());
    }
    const int64_t n = x.dim(-1);
    const Shape outShape(x.shape().begin(), x.shape().end() - 2);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), outShape));
    return dispatchFloat(
        x.dtype(),
        [&]<typename T>() {
            std::vector<double> a(static_cast<size_t>(n * n));
            const int64_t count = shapeNumel(outShape);
            for (int64_t b = 0; b < count; ++b) {
                const T* src = x.data<T>() + b * n * n;
                for (int64_t i = 0; i < n * n; ++i) a[i] = static_cast<double>(static_cast<ComputeT<T>>(src[i]));
                // LU with partial pivoting; det = sign * prod(diag(U)).
                double det = 1.0;
                for (int64_t col = 0; col < n && det != 0.0; ++col) {
                    int64_t pivot = col;
                    for (int64_t r = col + 1; r < n; ++r) {
                        if (std::fabs(a[r * n + col]) > std::fabs(a[pivot * n + col])) pivot = r;
                    }
                    if (a[pivot * n + col] == 0.0) {
                        det = 0.0;
                        break;
                    }
                    if (pivot != col) {
                        for (int64_t j = 0; j < n; ++j) std::swap(a[col * n + j], a[pivot * n + j]);
                        det = -det;
                    }
                    const double d = a[col * n + col];
                    det *= d;
                    for (int64_t r = col + 1; r < n; ++r) {
                        const double f = a[r * n + col] / d;
                        if (f == 0.0) continue;
                        for (int64_t j = col + 1; j < n; ++j) a[r * n + j] -= f * a[col * n + j];
                    }
                }
                y->data<T>()[b] = fromCompute<T>(static_cast<ComputeT<T>>(det));
            }
            return Status::ok();
        },
        "Det");
}

}  // namespace kiln::cpu
