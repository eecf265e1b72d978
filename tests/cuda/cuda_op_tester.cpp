#include "cuda/cuda_op_tester.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

namespace kiln::testing {

uint32_t seed() {
    static std::mt19937 rng([] {
        uint32_t s = std::random_device{}();
        if (const char* env = std::getenv("KILN_TEST_SEED")) s = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
        std::cout << "[cuda op tests] KILN_TEST_SEED=" << s << "\n";
        return s;
    }());
    return rng();
}

Tolerance defaultTolerance(DataType type) {
    switch (type) {
        case DataType::kFloat32: return {1e-5, 1e-6};
        case DataType::kFloat16: return {2e-3, 1e-3};
        case DataType::kBFloat16: return {1e-2, 1e-2};
        case DataType::kFloat64: return {1e-12, 1e-14};
        default: return {0, 0};
    }
}

Result<std::vector<Tensor>> runOnCuda(const ir::Graph& graph, const std::vector<Tensor>& feeds, bool allowTf32) {
    KILN_ASSIGN_OR_RETURN(auto plan, cuda::ExecutionPlan::create(graph));
    KILN_ASSIGN_OR_RETURN(auto resources, cuda::ContextResources::create(0, 0));
    cuda::RunOptions options;
    options.allowTf32 = allowTf32;
    options.poisonOutputs = true;
    return cuda::runOnHostTensors(*plan, *resources, feeds, options);
}

namespace {

//! Runs `tester`'s node on both backends and hands each pair of outputs to `compare(got, want)`; when the CPU
//! fails, expects the CUDA backend to fail too.
template <typename Compare>
void compareWithCpu(const OpTester& tester, bool allowTf32, Compare compare) {
    auto built = tester.build();
    ASSERT_TRUE(built.isOk()) << built.status().message();
    auto want = cpu::Executor().run(*built->graph, built->feeds);
    auto got = runOnCuda(*built->graph, built->feeds, allowTf32);
    if (!want.isOk()) {
        ASSERT_FALSE(got.isOk()) << "the CPU reference fails (" << want.status().message()
                                 << ") but the CUDA backend succeeds";
        return;
    }
    ASSERT_TRUE(got.isOk()) << got.status().message();
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < want->size(); ++o) {
        SCOPED_TRACE("output " + std::to_string(o));
        compare((*got)[o], (*want)[o]);
    }
}

}  // namespace

void expectCudaMatchesCpu(const OpTester& tester, std::optional<Tolerance> tol) {
    compareWithCpu(tester, false, [&](const Tensor& g, const Tensor& w) {
        const Tolerance t = tol.value_or(defaultTolerance(w.dtype()));
        if (t.rtol == 0 && t.atol == 0) {
            expectTensorEq(g, w);
        } else {
            expectTensorNear(g, w, t.rtol, t.atol);
        }
    });
}

void expectCudaMatchesCpuScaled(const OpTester& tester, double rel, bool allowTf32) {
    compareWithCpu(tester, allowTf32, [&](const Tensor& g, const Tensor& w) {
        double maxAbs = 0;
        for (int64_t i = 0; i < w.numel(); ++i) maxAbs = std::max(maxAbs, std::fabs(w.getDouble(i)));
        expectTensorNear(g, w, 0.0, rel * maxAbs + 1e-30);
    });
}

double scaledTolerance(DataType type) {
    switch (type) {
        case DataType::kFloat16: return 2e-3;
        case DataType::kBFloat16: return 2e-2;
        case DataType::kFloat64: return 1e-12;
        default: return 1e-4;
    }
}

}  // namespace kiln::testing
