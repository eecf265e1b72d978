// Parsing of Kiln's fused activation attributes for the CUDA kernels (the CPU reference parses the same way in
// backends/cpu/kernels/fused.cpp; the defaults are the ONNX ops' own).
#include <array>
#include <limits>
#include <string_view>

#include "backends/cuda/kernels/elementwise_activation.h"
#include "ir/attribute.h"

namespace kiln::cuda {

namespace {

struct KnownActivation {
    std::string_view name;
    ActivationKind kind;
    float alpha;    //!< default of activation_params[0]
    float beta;     //!< default of activation_params[1]
    int numParams;  //!< how many of activation_params the op reads (HardSwish's constants are fixed)
};

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr std::array<KnownActivation, 7> kActivations{{
    {"Relu", ActivationKind::kRelu, 0.0f, 0.0f, 0},
    {"LeakyRelu", ActivationKind::kLeakyRelu, 0.01f, 0.0f, 1},
    {"Clip", ActivationKind::kClip, -kInf, kInf, 2},
    {"Sigmoid", ActivationKind::kSigmoid, 0.0f, 0.0f, 0},
    {"HardSigmoid", ActivationKind::kHardSigmoid, 0.2f, 0.5f, 2},
    {"Tanh", ActivationKind::kTanh, 0.0f, 0.0f, 0},
    {"HardSwish", ActivationKind::kHardSwish, 1.0f / 6.0f, 0.5f, 0},
}};

}  // namespace

Result<FusedActivation> parseFusedActivation(const ir::Attributes& attrs) {
    const std::string name = attrs.getString("activation");
    if (name.empty()) return FusedActivation{};
    const std::vector<float> params = attrs.getFloats("activation_params").value_or(std::vector<float>{});
    for (const KnownActivation& known : kActivations) {
        if (known.name != name) continue;
        FusedActivation act{known.kind, known.alpha, known.beta};
        if (known.numParams > 0 && !params.empty()) act.alpha = params[0];
        if (known.numParams > 1 && params.size() > 1) act.beta = params[1];
        return act;
    }
    return invalidArgument("attribute 'activation' '" + name + "' is not supported");
}

}  // namespace kiln::cuda
