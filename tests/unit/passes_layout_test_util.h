// Helpers for the nhwc-layout pass tests: the default pipeline with the layout pass forced on (as the CUDA backend
// runs it for FP16/BF16 engines, here in FP32 on the CPU reference) or off.
#pragma once

#include "passes/backend_hooks.h"
#include "passes/precision_lowering.h"
#include "passes_test_util.h"

namespace kiln::testing {

//! Backend hooks whose layout step is the nhwc-layout pass, whatever the precision.
class NhwcHooks final : public passes::BackendHooks {
public:
    std::string name() const override { return "nhwc-test"; }
    Result<int64_t> assignLayouts(ir::Graph& graph, passes::PassContext& ctx) const override {
        return passes::convertToNhwc(graph, ctx);
    }
};

//! The CUDA backend's hooks as builder.cpp's GpuHooks sets them up for an FP16 engine: channels-last layout, then
//! FP16 lowering (here run on the CPU reference, which has FP16 kernels for every lowered op).
class HalfNhwcHooks final : public passes::BackendHooks {
public:
    std::string name() const override { return "nhwc-fp16-test"; }
    Result<int64_t> assignLayouts(ir::Graph& graph, passes::PassContext& ctx) const override {
        return passes::convertToNhwc(graph, ctx);
    }
    Result<int64_t> assignPrecisions(ir::Graph& graph, const passes::PrecisionPolicy&,
                                     passes::PassContext&) const override {
        return passes::lowerPrecision(graph, DataType::kFloat16, passes::defaultLowerableInputs);
    }
};

//! Runs the default pipeline on `g`, with the layout pass when `nhwc`; kInfo and kVerbose lines go to `log`.
inline passes::PipelineReport optimizeGraph(ir::Graph& g, bool nhwc, std::vector<std::string>* log = nullptr) {
    static const NhwcHooks kNhwc;
    static const passes::BackendHooks kPlain;
    passes::PassManager pm(
        passes::defaultPipeline(),
        [log](passes::LogLevel, std::string_view line) {
            if (log) log->emplace_back(line);
        },
        nhwc ? static_cast<const passes::BackendHooks*>(&kNhwc) : &kPlain);
    auto r = pm.run(g);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    EXPECT_TRUE(g.verify().isOk());
    return r.isOk() ? std::move(r).value() : passes::PipelineReport{};
}

//! Builds a graph twice with `make`, optimizes one copy into `g` as a CUDA FP16 engine is (layout, FP16 lowering,
//! then the fusions) and checks its outputs on `feeds` against the unoptimized FP32 copy's, within `maxRel`. Returns
//! the pipeline's report (empty when it failed, which fails the test).
inline passes::PipelineReport optimizeHalfAndCompare(const std::function<void(GraphBuilder&)>& make,
                                                     const std::vector<Tensor>& feeds, ir::Graph& g,
                                                     double maxRel = 1e-2) {
    ir::Graph reference;
    GraphBuilder rb(reference), gb(g);
    make(rb);
    make(gb);
    static const HalfNhwcHooks kHooks;
    passes::PassManager pm(passes::defaultPipeline(), {}, &kHooks);
    auto report = pm.run(g);
    EXPECT_TRUE(report.isOk()) << report.status().message();
    EXPECT_TRUE(g.verify().isOk());
    if (!report.isOk()) return {};
    const auto got = runGraph(g, feeds);
    const auto want = runGraph(reference, feeds);
    EXPECT_EQ(got.size(), want.size());
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
        EXPECT_LE(maxRelError(got[i], want[i]), maxRel) << "output " << i;
    }
    return std::move(report).value();
}

//! Ops of a graph that only the layout pass makes.
inline size_t countChannelsLastOps(const ir::Graph& g) {
    return countOps(g, ir::OpKind::kFusedConvNhwc) + countOps(g, ir::OpKind::kConvTransposeNhwc) +
           countOps(g, ir::OpKind::kMaxPoolNhwc) + countOps(g, ir::OpKind::kAveragePoolNhwc) +
           countOps(g, ir::OpKind::kGlobalAveragePoolNhwc);
}

}  // namespace kiln::testing
