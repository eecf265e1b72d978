// A cpu::KernelContext over a CUDA kernel's inputs, for running the CPU reference's plans (cpu/op_plans.h): device
// inputs appear as data-less tensors (dtype and shape only), host inputs as themselves. The plans never read the
// data of a data input, so both backends validate with one implementation and the same messages.
#pragma once

#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

class ReferenceView {
public:
    explicit ReferenceView(const CudaKernelContext& ctx) : mCtx{ctx.node, {}, {}, {}} {
        mViews.reserve(ctx.numInputs());  // mCtx.inputs points into mViews
        for (size_t i = 0; i < ctx.numInputs(); ++i) {
            if (ctx.hostInputs[i] != nullptr) {
                mCtx.inputs.push_back(ctx.hostInputs[i]);
            } else if (ctx.inputs[i] != nullptr) {
                mViews.push_back(Tensor::wrap(ctx.inputs[i]->dtype, ctx.inputs[i]->shape, nullptr));
                mCtx.inputs.push_back(&mViews.back());
            } else {
                mCtx.inputs.push_back(nullptr);
            }
        }
        mCtx.outputs.resize(ctx.numOutputs());
    }
    ReferenceView(const ReferenceView&) = delete;
    ReferenceView& operator=(const ReferenceView&) = delete;

    const cpu::KernelContext& context() const { return mCtx; }

private:
    std::vector<Tensor> mViews;
    cpu::KernelContext mCtx;
};

}  // namespace kiln::cuda
