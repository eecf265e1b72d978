// Shape rules of kiln Attention (ir/ops.def), shared by the CPU reference kernel, the CUDA kernel's host side and
// the attention-fusion pass: the logical [B, H, S, D] view of each stored input, element strides for every layout,
// the mask's broadcast strides and the output's stored shape.
#pragma once

#include <cstdint>

#include "ir/attribute.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu {

//! Element strides of one [B, H, S, D] tensor; D is contiguous (stride 1).
struct AttentionStrides {
    int64_t batch = 0;
    int64_t head = 0;
    int64_t seq = 0;
};

//! Element strides of the mask over the scores [B, H, Sq, Sk]; 0 along broadcast dims.
struct AttentionMaskStrides {
    int64_t batch = 0;
    int64_t head = 0;
    int64_t query = 0;
    int64_t key = 0;
};

struct AttentionPlan {
    int64_t batch = 1;  //!< B (1 at rank 3).
    int64_t heads = 1;  //!< H (N at rank 3).
    int64_t sq = 0, sk = 0, d = 0, dv = 0;
    float scale = 1.0f;
    bool causal = false;
    bool hasMask = false;
    AttentionStrides q, k, v, out;
    AttentionMaskStrides mask;
    Shape outShape;  //!< Y as stored (out_layout).
};

//! Layout attribute values: 0 stores [B, H, S, D] ([N, S, D]), 1 stores [B, S, H, D] ([S, N, D]).
inline constexpr int64_t kAttentionHeadMajor = 0;
inline constexpr int64_t kAttentionSeqMajor = 1;

//! Largest head size (D and Dv) the CUDA kernels take; the fusion pass leaves larger heads unfused.
inline constexpr int64_t kAttentionMaxHeadSize = 256;

//! Checks the dtypes: Q float (float32/64, float16, bfloat16), K and V Q's dtype, the mask Q's dtype or float32.
Status checkAttentionDtypes(DataType q, DataType k, DataType v, const DataType* mask);

//! Validates the shapes of Q, K, V (and the mask, when given) against the attributes and computes the plan.
//! Fails (kInvalidArgument) naming the input, its shape and the rule it breaks.
Result<AttentionPlan> planAttention(const Shape& q, const Shape& k, const Shape& v, const Shape* mask,
                                    const ir::Attributes& attrs);

}  // namespace kiln::cpu
