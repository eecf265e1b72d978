#include "cuda/cuda_op_tester.h"

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

void expectCudaMatchesCpu(const OpTester& tester, std::optional<Tolerance> tol) {
    auto built = tester.build();
    ASSERT_TRUE(built.isOk()) << built.status().message();
    auto want = cpu::Executor().run(*built->graph, built->feeds);
    auto got = runOnCuda(*built->graph, built->feeds);
    if (!want.isOk()) {
        ASSERT_FALSE(got.isOk()) << "the CPU reference fails (" << want.status().message()
                                 << ") but the CUDA backend succeeds";
        return;
    }
    ASSERT_TRUE(got.isOk()) << got.status().message();
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < want->size(); ++o) {
        SCOPED_TRACE("output " + std::to_string(o));
        const Tensor& w = (*want)[o];
        const Tensor& g = (*got)[o];
        const Tolerance t = tol.value_or(defaultTolerance(w.dtype()));
        if (t.rtol == 0 && t.atol == 0) {
            expectTensorEq(g, w);
        } else {
            expectTensorNear(g, w, t.rtol, t.atol);
        }
    }
}

}  // namespace kiln::testing
