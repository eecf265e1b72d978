#include "backends/cpu/attention_plan.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace kiln::cpu {

namespace {

//! The logical [B, H, S, D] dims of a stored rank-3/4 tensor and its strides.
struct Logical {
    int64_t b = 1, h = 1, s = 0, d = 0;
    AttentionStrides strides;
};

Result<int64_t> layoutAttr(const ir::Attributes& attrs, const char* name) {
    const int64_t v = attrs.getInt(name, kAttentionHeadMajor);
    if (v != kAttentionHeadMajor && v != kAttentionSeqMajor) {
        return invalidArgument(std::string("attribute '") + name +
                               "' must be 0 ([B, H, S, D]) or 1 ([B, S, H, D]), got " + std::to_string(v));
    }
    return v;
}

Logical logical(const Shape& s, int64_t layout) {
    Logical l;
    const bool rank4 = s.size() == 4;
    const size_t o = rank4 ? 1 : 0;  // first of the (head, seq) pair
    l.b = rank4 ? s[0] : 1;
    l.h = layout == kAttentionHeadMajor ? s[o] : s[o + 1];
    l.s = layout == kAttentionHeadMajor ? s[o + 1] : s[o];
    l.d = s.back();
    l.strides.batch = l.h * l.s * l.d;
    l.strides.head = layout == kAttentionHeadMajor ? l.s * l.d : l.d;
    l.strides.seq = layout == kAttentionHeadMajor ? l.d : l.h * l.d;
    return l;
}

//! The strides of `l` with 0 along the batch/head dims it broadcasts over.
AttentionStrides broadcastStrides(const Logical& l, int64_t batch, int64_t heads) {
    AttentionStrides s = l.strides;
    if (l.b != batch) s.batch = 0;
    if (l.h != heads) s.head = 0;
    return s;
}

Status maskStrides(const Shape& m, const Shape& scores, AttentionMaskStrides& out) {
    if (m.size() > scores.size()) {
        return invalidArgument("input 3 'mask' " + shapeToString(m) + " does not broadcast to the scores " +
                               shapeToString(scores));
    }
    int64_t strides[4] = {0, 0, 0, 0};
    int64_t stride = 1;
    const size_t offset = scores.size() - m.size();
    for (size_t i = m.size(); i-- > 0;) {
        const int64_t want = scores[offset + i];
        if (m[i] != 1 && m[i] != want) {
            return invalidArgument("input 3 'mask' " + shapeToString(m) + " does not broadcast to the scores " +
                                   shapeToString(scores));
        }
        // Rank-3 scores [N, Sq, Sk] are [1, N, Sq, Sk]: shift into the 4-slot array.
        strides[offset + i + (4 - scores.size())] = m[i] == 1 ? 0 : stride;
        stride *= m[i];
    }
    out = {strides[0], strides[1], strides[2], strides[3]};
    return Status::ok();
}

}  // namespace

Status checkAttentionDtypes(DataType q, DataType k, DataType v, const DataType* mask) {
    if (!isFloatingPoint(q)) {
        return unsupported(std::string("input 0 'Q' has dtype ") + dataTypeName(q) +
                           ": Attention takes float32, float64, float16 or bfloat16");
    }
    if (k != q || v != q) {
        return invalidArgument(std::string("inputs 'K' (") + dataTypeName(k) + ") and 'V' (" + dataTypeName(v) +
                               ") must have Q's dtype " + dataTypeName(q));
    }
    if (mask && *mask != q && *mask != DataType::kFloat32) {
        return invalidArgument(std::string("input 3 'mask' has dtype ") + dataTypeName(*mask) +
                               ": it must have Q's dtype " + dataTypeName(q) + " or float32");
    }
    return Status::ok();
}

Result<AttentionPlan> planAttention(const Shape& q, const Shape& k, const Shape& v, const Shape* mask,
                                    const ir::Attributes& attrs) {
    const char* names[3] = {"input 0 'Q'", "input 1 'K'", "input 2 'V'"};
    const Shape* shapes[3] = {&q, &k, &v};
    for (int i = 0; i < 3; ++i) {
        if (shapes[i]->size() != 3 && shapes[i]->size() != 4) {
            return invalidArgument(std::string(names[i]) + " " + shapeToString(*shapes[i]) + " must have rank 3 or 4");
        }
        if (shapes[i]->size() != q.size()) {
            return invalidArgument(std::string(names[i]) + " " + shapeToString(*shapes[i]) + " must have Q's rank " +
                                   std::to_string(q.size()));
        }
    }
    KILN_ASSIGN_OR_RETURN(int64_t ql, layoutAttr(attrs, "q_layout"));
    KILN_ASSIGN_OR_RETURN(int64_t kl, layoutAttr(attrs, "k_layout"));
    KILN_ASSIGN_OR_RETURN(int64_t vl, layoutAttr(attrs, "v_layout"));
    KILN_ASSIGN_OR_RETURN(int64_t ol, layoutAttr(attrs, "out_layout"));
    const Logical lq = logical(q, ql), lk = logical(k, kl), lv = logical(v, vl);
    // Batch and head dims broadcast as MatMul's batch dims do (size 1 against any size); D and Sk must agree.
    auto joint = [](int64_t a, int64_t b, int64_t c) -> int64_t {
        const int64_t n = std::max({a, b, c});
        return (a == n || a == 1) && (b == n || b == 1) && (c == n || c == 1) ? n : -1;
    };
    const int64_t batch = joint(lq.b, lk.b, lv.b);
    const int64_t heads = joint(lq.h, lk.h, lv.h);
    if (batch < 0 || heads < 0) {
        return invalidArgument("inputs 'Q' " + shapeToString(q) + ", 'K' " + shapeToString(k) + " and 'V' " +
                               shapeToString(v) + " do not broadcast in batch and heads");
    }
    if (lk.d != lq.d) {
        return invalidArgument("input 1 'K' " + shapeToString(k) + " must match Q " + shapeToString(q) +
                               " in head size");
    }
    if (lv.s != lk.s) {
        return invalidArgument("input 2 'V' " + shapeToString(v) + " must match K " + shapeToString(k) +
                               " in sequence length");
    }
    AttentionPlan p;
    p.batch = batch;
    p.heads = heads;
    p.sq = lq.s;
    p.sk = lk.s;
    p.d = lq.d;
    p.dv = lv.d;
    p.q = broadcastStrides(lq, batch, heads);
    p.k = broadcastStrides(lk, batch, heads);
    p.v = broadcastStrides(lv, batch, heads);
    p.scale = attrs.getFloat("scale", p.d > 0 ? 1.0f / std::sqrt(static_cast<float>(p.d)) : 1.0f);
    p.causal = attrs.getInt("causal", 0) != 0;
    const bool rank4 = q.size() == 4;
    Shape out = ol == kAttentionHeadMajor ? Shape{p.heads, p.sq, p.dv} : Shape{p.sq, p.heads, p.dv};
    if (rank4) out.insert(out.begin(), p.batch);
    const Logical lo = logical(out, ol);
    p.out = lo.strides;
    p.outShape = std::move(out);
    if (mask) {
        p.hasMask = true;
        const Shape scores = rank4 ? Shape{p.batch, p.heads, p.sq, p.sk} : Shape{p.heads, p.sq, p.sk};
        KILN_RETURN_IF_ERROR(maskStrides(*mask, scores, p.mask));
    }
    return p;
}

}  // namespace kiln::cpu
