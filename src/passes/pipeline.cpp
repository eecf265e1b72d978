#include "passes/backend_hooks.h"
#include "passes/passes.h"

namespace kiln::passes {

std::vector<std::unique_ptr<Pass>> defaultPipeline(PrecisionPolicy precision) {
    std::vector<std::unique_ptr<Pass>> p;
    p.push_back(createIdentityElimination());
    // Shapes first (and again each iteration, after folding): the fusions below read ranks and dims.
    p.push_back(createShapeInference());
    p.push_back(createConstantFolding());
    p.push_back(createCommonSubexpressionElimination());
    p.push_back(createDeadCodeElimination());
    // BatchNormalization folds before the fusion turns Conv into FusedConv.
    p.push_back(createConvBatchNormFold());
    // Attention first: its mask Add would otherwise become a FusedMatMul bias of the scores MatMul.
    p.push_back(createAttentionFusion());
    // GELU becomes one node first, so that bias-activation-fusion takes it as an activation; the residual Add goes
    // to the LayerNormalization before bias-activation-fusion would put it into the MatMul; the q/k/v MatMuls merge
    // once each has its bias.
    p.push_back(createGeluFusion());
    p.push_back(createLayerNormFusion());
    p.push_back(createAddLayerNormFusion());
    p.push_back(createBiasActivationFusion());
    p.push_back(createMatMulMerge());
    p.push_back(createElementwiseClaim());
    p.push_back(createLayoutAssignment());
    p.push_back(createPrecisionAssignment(precision));
    // A Concat read by a convolution goes first (the convolution splits over its inputs); the ConvTranspose fusion
    // then takes the Concats that remain.
    p.push_back(createConcatConvSplit());
    // A 1x1 head read from a convolution's output goes into that convolution (its output then never stored).
    p.push_back(createConvHeadFusion());
    // A 2x2 MaxPool of a convolution's output is written by that convolution (which then keeps its other readers).
    p.push_back(createConvPoolFusion());
    // After the layout hook made ConvTransposeNhwc (CUDA FP16/BF16 engines only) and precision fixed the dtypes.
    p.push_back(createConvTransposeConcatFusion());
    // The edges' Casts (precision) and Transposes (layout) exist only now.
    p.push_back(createTransposeCastFusion());
    return p;
}

std::vector<std::unique_ptr<Pass>> BackendHooks::pipeline() const { return defaultPipeline(); }

}  // namespace kiln::passes
