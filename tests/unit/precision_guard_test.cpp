// The accuracy guard's search (which layers to keep in FP32) and its sensitivity ranking, on synthetic error models.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "builder/precision_guard.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using builder::GuardResult;
using builder::rankBySensitivity;
using builder::searchFp32Layers;

std::vector<std::string> layers(int n) {
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i) v.push_back("l" + std::to_string(i));
    return v;
}

//! Each layer adds its own error when lowered; the engine's error is the sum over the lowered ones.
struct AdditiveModel {
    std::map<std::string, double> cost;
    int calls = 0;
    double operator()(const std::vector<std::string>& kept) {
        ++calls;
        const std::set<std::string> k(kept.begin(), kept.end());
        double e = 0;
        for (const auto& [name, c] : cost) e += k.count(name) ? 0.0 : c;
        return e;
    }
};

TEST(PrecisionGuard, NothingKeptWhenTheLoweredEngineIsAccurate) {
    AdditiveModel m{{{"l0", 1e-4}, {"l1", 1e-4}}};
    auto r = searchFp32Layers(layers(2), 1e-2, [&](const auto& k) -> Result<double> { return m(k); });
    ASSERT_TRUE(r.isOk()) << r.status().message();
    EXPECT_TRUE(r->met);
    EXPECT_TRUE(r->keptFp32.empty());
    EXPECT_EQ(m.calls, 1);
}

TEST(PrecisionGuard, FindsTheSmallestPrefixThatMeetsTheTolerance) {
    // 100 layers, ranked most costly first: 0.01, 0.0099, ... The tolerance needs the first 37 kept.
    AdditiveModel m;
    const auto ranked = layers(100);
    double total = 0;
    for (int i = 0; i < 100; ++i) {
        m.cost[ranked[static_cast<size_t>(i)]] = 0.01 - 1e-4 * i;
        total += 0.01 - 1e-4 * i;
    }
    double keptFirst37 = 0;
    for (int i = 0; i < 37; ++i) keptFirst37 += 0.01 - 1e-4 * i;
    const double tol = total - keptFirst37 + 1e-12;
    auto r = searchFp32Layers(ranked, tol, [&](const auto& k) -> Result<double> { return m(k); });
    ASSERT_TRUE(r.isOk());
    EXPECT_TRUE(r->met);
    EXPECT_EQ(r->keptFp32.size(), 37u);
    EXPECT_LE(r->error, tol);
    EXPECT_LE(m.calls, 1 + 7 + 6) << "1 + doubling to 64 + bisection of (32, 64]";
    EXPECT_EQ(r->steps.size(), static_cast<size_t>(m.calls));
}

TEST(PrecisionGuard, KeepsEverythingRankedWhenNothingMeetsIt) {
    // A floor the guard cannot remove (the inputs' own rounding): 0.05 whatever is kept.
    auto r = searchFp32Layers(layers(10), 1e-2, [](const auto& kept) -> Result<double> {
        return 0.05 + 0.01 * (10.0 - static_cast<double>(kept.size()));
    });
    ASSERT_TRUE(r.isOk());
    EXPECT_FALSE(r->met);
    EXPECT_EQ(r->keptFp32.size(), 10u);
    EXPECT_DOUBLE_EQ(r->error, 0.05);
}

TEST(PrecisionGuard, NanCountsAsFailingAndErrorsPropagate) {
    auto r = searchFp32Layers(layers(4), 1e-2, [](const auto& kept) -> Result<double> {
        return kept.empty() ? NAN : (kept.size() >= 2 ? 1e-3 : 0.5);
    });
    ASSERT_TRUE(r.isOk());
    EXPECT_TRUE(r->met);
    EXPECT_EQ(r->keptFp32, (std::vector<std::string>{"l0", "l1"}));
    EXPECT_TRUE(std::isinf(r->steps[0].error));

    auto failed = searchFp32Layers(layers(4), 1e-2, [](const auto& kept) -> Result<double> {
        if (kept.size() == 2) return unsupported("no kernel");
        return 1.0;
    });
    ASSERT_FALSE(failed.isOk());
    EXPECT_NE(failed.status().message().find("no kernel"), std::string::npos);
    EXPECT_FALSE(searchFp32Layers(layers(1), 0, [](const auto&) -> Result<double> { return 0.0; }).isOk());
}

TEST(PrecisionGuard, RanksLayersByTheErrorTheyAdd) {
    // x -> a (adds 1e-3) -> b (adds 5e-2) -> c (passes it on) -> d (overflows to inf)
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", DataType::kFloat32, {4});
    b.node(ir::OpKind::kRelu, {"x"}, {"a"});
    b.node(ir::OpKind::kSigmoid, {"a"}, {"b"});
    b.node(ir::OpKind::kRelu, {"b"}, {"c"});
    b.node(ir::OpKind::kExp, {"c"}, {"d"});
    b.output("d");
    const std::map<std::string, double> err = {{"a", 1e-3}, {"b", 5.1e-2}, {"c", 5.1e-2}, {"d", INFINITY}};
    EXPECT_EQ(rankBySensitivity(g, err), (std::vector<std::string>{"d", "b", "a", "c"}));
}

}  // namespace
}  // namespace kiln::testing
