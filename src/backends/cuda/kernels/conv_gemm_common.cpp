#include "backends/cuda/kernels/conv_gemm_common.h"

#include <array>
#include <limits>
#include <string_view>

#include "backends/cuda/check.h"

namespace kiln::cuda {

int currentDevice() {
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess) {
        (void)cudaGetLastError();
        return -1;
    }
    return device;
}

Result<EpilogueActivation> parseFusedActivation(const ir::Attributes& attrs) {
    struct Known {
        std::string_view name;
        EpilogueAct kind;
        float a, b;    // parameter defaults
        int settable;  // how many of a, b activation_params may override
    };
    constexpr float kInf = std::numeric_limits<float>::infinity();
    static constexpr std::array<Known, 9> kKnown{{
        {"Relu", EpilogueAct::kRelu, 0.0f, 0.0f, 0},
        {"LeakyRelu", EpilogueAct::kLeakyRelu, 0.01f, 0.0f, 1},
        {"Clip", EpilogueAct::kClip, -kInf, kInf, 2},
        {"Sigmoid", EpilogueAct::kSigmoid, 0.0f, 0.0f, 0},
        {"HardSigmoid", EpilogueAct::kHardSigmoid, 0.2f, 0.5f, 2},
        {"Tanh", EpilogueAct::kTanh, 0.0f, 0.0f, 0},
        {"HardSwish", EpilogueAct::kHardSwish, 1.0f / 6.0f, 0.5f, 0},
        {"Gelu", EpilogueAct::kGelu, 0.0f, 0.0f, 0},
        {"GeluTanh", EpilogueAct::kGeluTanh, 0.0f, 0.0f, 0},
    }};
    const std::string name = attrs.getString("activation");
    if (name.empty()) return EpilogueActivation{};
    for (const Known& k : kKnown) {
        if (k.name != name) continue;
        const std::vector<float> params = attrs.getFloats("activation_params").value_or(std::vector<float>{});
        EpilogueActivation act{k.kind, k.a, k.b};
        if (k.settable > 0 && params.size() > 0) act.a = params[0];
        if (k.settable > 1 && params.size() > 1) act.b = params[1];
        return act;
    }
    return invalidArgument("attribute 'activation' '" + name + "' is not supported");
}

Status runEpilogue(CudaKernelContext& ctx, const DeviceTensor& y, const DeviceTensor* bias, int64_t biasInner,
                   const DeviceTensor* z, EpilogueActivation act) {
    EpilogueArgs e;
    e.y = y.data;
    e.count = y.numel();
    e.bias = bias ? bias->data : nullptr;
    e.biasInner = biasInner;
    e.biasCount = bias ? bias->numel() : 1;
    e.z = z ? z->data : nullptr;
    e.act = act;
    if (!epilogueNeeded(e)) return Status::ok();
    KILN_CUDA_CHECK(launchEpilogue(y.dtype, e, ctx.stream()));
    return Status::ok();
}

size_t workspaceBudget(const CudaKernelContext& ctx, size_t used, size_t cap) {
    const size_t limit = ctx.run.workspaceLimit;
    if (limit == 0) return cap;
    return limit > used ? limit - used : 0;
}

}  // namespace kiln::cuda
