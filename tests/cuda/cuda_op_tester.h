// CUDA op tests (layer 2 of STYLE.md's test layers): run a one-node graph on the CUDA backend and on the CPU
// reference, compare every output. Outputs are poisoned (0xFF bytes, NaN for floats) before each run so an
// element a kernel forgets to write fails; inputs are fresh random values each run (the seed is printed).
//
//   KILN_REQUIRE_GPU();
//   OpTester t("Add");
//   t.input(randomTensor(DataType::kFloat32, {5, 7}, seed())).input(randomTensor(DataType::kFloat32, {7}, seed()));
//   expectCudaMatchesCpu(t);                      // tolerance from the dtypes (exact for integers and bool)
#pragma once

#include <gtest/gtest.h>

#include <random>

#include "backends/cuda/resources.h"
#include "ops/op_tester.h"

namespace kiln::testing {

#define KILN_REQUIRE_GPU()                                                        \
    do {                                                                          \
        if (!::kiln::cuda::gpuAvailable()) GTEST_SKIP() << "no CUDA GPU present"; \
    } while (0)

//! A fresh seed per call, derived from one random seed per process that is printed once (rerun with
//! KILN_TEST_SEED=<n> to reproduce).
uint32_t seed();

//! Per-dtype default tolerances: float32 1e-5 rel, float16 2e-3, bfloat16 1e-2, float64 1e-12; exact otherwise.
struct Tolerance {
    double rtol = 0;
    double atol = 0;
};
Tolerance defaultTolerance(DataType type);

//! Runs the built graph on the GPU (device 0) with poisoned outputs; returns host copies of the outputs.
Result<std::vector<Tensor>> runOnCuda(const ir::Graph& graph, const std::vector<Tensor>& feeds, bool allowTf32 = false);

//! Runs `tester`'s node on both backends and compares (or, when the CPU fails, expects the same failure).
//! `tol` overrides the per-dtype default.
void expectCudaMatchesCpu(const OpTester& tester, std::optional<Tolerance> tol = std::nullopt);

}  // namespace kiln::testing
