#include "passes/backend_hooks.h"
#include "passes/passes.h"

namespace kiln::passes {

std::vector<std::unique_ptr<Pass>> defaultPipeline(PrecisionPolicy precision) {
    std::vector<std::unique_ptr<Pass>> p;
    p.push_back(createIdentityElimination());
    p.push_back(createConstantFolding());
    p.push_back(createCommonSubexpressionElimination());
    p.push_back(createDeadCodeElimination());
    // BatchNormalization folds before the fusion turns Conv into FusedConv.
    p.push_back(createConvBatchNormFold());
    // Attention first: its mask Add would otherwise become a FusedMatMul bias of the scores MatMul.
    p.push_back(createAttentionFusion());
    p.push_back(createBiasActivationFusion());
    p.push_back(createElementwiseClaim());
    p.push_back(createLayoutAssignment());
    p.push_back(createPrecisionAssignment(precision));
    return p;
}

std::vector<std::unique_ptr<Pass>> BackendHooks::pipeline() const { return defaultPipeline(); }

}  // namespace kiln::passes
