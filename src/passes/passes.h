// The optimizing passes (one per file in src/passes/) and the default pipeline.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "passes/backend_hooks.h"
#include "passes/pass.h"

namespace kiln::passes {

struct ConstantFoldingOptions {
    //! Results larger than this stay computed at run time: folding must not bloat the engine or the build.
    size_t maxOutputBytes = size_t{64} << 20;
};

//! "constant-folding": nodes whose inputs are all constants run through the CPU reference kernel and become
//! constants; Shape/Size of values with static shapes fold too. Random ops and subgraph ops never fold.
std::unique_ptr<Pass> createConstantFolding(ConstantFoldingOptions options = {});
//! "shape-inference" (src/passes/shape_inference.cpp, rules in shape_rules.h): completes value shapes that ONNX's
//! inference at import left unknown (ranks and static or symbolic dims past Reshapes and Slices whose shape inputs are
//! computed from Shape), following the elements of shape tensors symbolically. Only adds what it can prove: a known
//! dim or symbol is never replaced, and unknown stays unknown.
std::unique_ptr<Pass> createShapeInference();
//! "dead-code-elimination": removes nodes no graph output depends on, then orphaned values.
std::unique_ptr<Pass> createDeadCodeElimination();
//! "identity-elimination": removes Identity and inference-mode Dropout, keeping graph output names.
std::unique_ptr<Pass> createIdentityElimination();
//! "cse": merges nodes with the same op, inputs and attributes, and small constants with equal contents.
std::unique_ptr<Pass> createCommonSubexpressionElimination();
//! "conv-bn-fold": folds inference BatchNormalization into the preceding Conv's weights and bias.
std::unique_ptr<Pass> createConvBatchNormFold();
//! "bias-activation-fusion": Conv/Gemm/MatMul + bias Add + residual Add + activation → kiln FusedConv/FusedGemm/
//! FusedMatMul.
std::unique_ptr<Pass> createBiasActivationFusion();
//! "attention-fusion" (src/passes/attention_fusion.cpp): MatMul(q·scale, kᵀ) [+ mask] → Softmax → MatMul(·, v), with
//! the head Transposes around it, → one kiln Attention node.
std::unique_ptr<Pass> createAttentionFusion();
//! "gelu-fusion": the exporters' Erf and Tanh spellings of GELU → one Gelu node (approximate "none" / "tanh").
std::unique_ptr<Pass> createGeluFusion();
//! "layer-norm-fusion": the spelled-out LayerNormalization of exports before opset 17 (ReduceMean, Sub, Pow,
//! ReduceMean, Add, Sqrt, Div [, Mul, Add]) → one LayerNormalization.
std::unique_ptr<Pass> createLayerNormFusion();
//! "add-layer-norm-fusion": LayerNormalization(Add(a, b)) of two same-shape runtime values → kiln FusedAddLayerNorm.
std::unique_ptr<Pass> createAddLayerNormFusion();
//! "matmul-merge": MatMul/FusedMatMul siblings over one input with constant [K, N] weights (q/k/v projections) →
//! one FusedMatMul over stacked weights + Split (views on the GPU) + Squeeze.
std::unique_ptr<Pass> createMatMulMerge();
//! "elementwise-claim": asks the backend which elementwise chains it fuses (BackendHooks::claimElementwiseChains)
//! and records them as the node attribute `kiln_fusion_group` (chain index).
std::unique_ptr<Pass> createElementwiseClaim();
//! "nhwc-layout" (src/passes/nhwc_layout.cpp): 2-D convolutions and the layout-agnostic ops between them become
//! channels-last (kiln FusedConvNhwc, MaxPoolNhwc, ...), with Transposes only where an NCHW reader or a graph
//! input/output needs them. The CUDA backend's layout hook runs it for FP16/BF16 engines. Returns the rewrites made.
Result<int64_t> convertToNhwc(ir::Graph& graph, PassContext& ctx);
//! "concat-conv-split" (src/passes/concat_conv_split.cpp): a channels-last FP16/BF16 convolution of a Concat along
//! channels → one convolution per concatenated input over its slice of the weights, chained through the residual
//! input (the Concat disappears).
std::unique_ptr<Pass> createConcatConvSplit();
//! "conv-head-fusion" (src/passes/conv_head_fusion.cpp): a channels-last FP16/BF16 64 -> 64 convolution (ReLU or
//! none, no residual) read only by a 1x1 convolution of at most 8 output channels → one FusedConvNhwc with the
//! attribute `kiln_head` that computes both (semantics in src/ir/ops.def). In defaultPipeline after concat-conv-split:
//! only CUDA FP16/BF16 engines have such convolutions. On the GPU, Kiln's wgmma kernel computes the head in its
//! epilogue where it serves (the 64-channel intermediate is never stored); elsewhere the intermediate goes through
//! workspace.
std::unique_ptr<Pass> createConvHeadFusion();
//! "conv-pool-fusion" (src/passes/conv_pool_fusion.cpp): a channels-last FP16/BF16 64 -> 64 convolution (1x1 or 3x3,
//! stride 1, ReLU or none) whose output a 2x2 stride-2 MaxPoolNhwc reads → the convolution with the attribute
//! `kiln_pool` writes the pooled tensor as its second output (semantics in src/ir/ops.def); the output keeps its
//! other readers (UNet's skip connection). In defaultPipeline after conv-head-fusion: only CUDA FP16/BF16 engines
//! have such convolutions, and on the GPU the convolution writes the pooled result from its epilogue, so the MaxPool
//! does not read the whole output again.
std::unique_ptr<Pass> createConvPoolFusion();
//! "convtranspose-concat-fusion" (src/passes/convtranspose_concat_fusion.cpp): a channels-last Concat with an input
//! from a GEMM-shaped ConvTransposeNhwc read only there → one ConvTransposeNhwc that writes into its slice of the
//! Concat's output (the Concat's other inputs become its inputs 3..., attribute `kiln_concat_slot`).
std::unique_ptr<Pass> createConvTransposeConcatFusion();
//! "transpose-cast-fusion" (src/passes/transpose_cast_fusion.cpp): Cast → Transpose or Transpose → Cast between
//! float32, float16 and bfloat16, the value between them read only there → one kiln TransposeCast (the channels-last
//! engine's input and output edges), for backends whose hooks ask for it (BackendHooks::fusesTransposeCast).
std::unique_ptr<Pass> createTransposeCastFusion();
//! "layout-assignment" / "precision-assignment": the backend's hooks (no-ops by default).
std::unique_ptr<Pass> createLayoutAssignment();
std::unique_ptr<Pass> createPrecisionAssignment(PrecisionPolicy policy = {});

//! Folding and cleanup, then the fusions, then the backend hooks.
//! The default pipeline; `precision` goes to the precision-assignment pass (the BuilderConfig flags).
std::vector<std::unique_ptr<Pass>> defaultPipeline(PrecisionPolicy precision = {});

}  // namespace kiln::passes
