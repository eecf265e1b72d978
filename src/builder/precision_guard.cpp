#include "builder/precision_guard.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace kiln::builder {

Result<GuardResult> searchFp32Layers(const std::vector<std::string>& ranked, double tolerance,
                                     const GuardEvaluate& evaluate, int maxEvaluations) {
    if (!(tolerance > 0)) return invalidArgument("accuracy guard: the tolerance must be positive");
    GuardResult result;
    int left = std::max(maxEvaluations, 1);
    // Error of the engine with the first k ranked layers kept in FP32; NaN (a lowered layer overflowed) fails.
    auto measure = [&](size_t k) -> Result<double> {
        --left;
        std::vector<std::string> kept(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(k));
        KILN_ASSIGN_OR_RETURN(double err, evaluate(kept));
        if (std::isnan(err)) err = INFINITY;
        result.steps.push_back({k, err});
        return err;
    };
    auto accept = [&](size_t k, double err) {
        result.keptFp32.assign(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(k));
        result.error = err;
        result.met = err <= tolerance;
    };

    KILN_ASSIGN_OR_RETURN(double err0, measure(0));
    accept(0, err0);
    if (result.met || ranked.empty()) return result;

    // Grow: k = 1, 2, 4, ... up to the whole ranking (always completed: about log2 of the layer count) until the
    // tolerance holds.
    size_t failing = 0;  // largest k known to fail
    size_t passing = 0;  // smallest k known to pass (0: none)
    double passingErr = 0;
    for (size_t k = 1;; k = std::min(k * 2, ranked.size())) {
        KILN_ASSIGN_OR_RETURN(double err, measure(k));
        if (err <= tolerance) {
            passing = k;
            passingErr = err;
            break;
        }
        failing = k;
        if (k == ranked.size()) {
            // Even every ranked layer in FP32 misses it: keep them all, the most accurate choice there is.
            accept(k, err);
            return result;
        }
    }
    // Bisect between the last failing and the first passing k.
    while (passing - failing > 1 && left > 0) {
        const size_t mid = failing + (passing - failing) / 2;
        KILN_ASSIGN_OR_RETURN(double err, measure(mid));
        if (err <= tolerance) {
            passing = mid;
            passingErr = err;
        } else {
            failing = mid;
        }
    }
    accept(passing, passingErr);
    return result;
}

std::vector<std::string> rankBySensitivity(const ir::Graph& graph, const std::map<std::string, double>& valueError) {
    auto errorOf = [&](const ir::Value* v) {
        // Through casts: a node fed by a Cast down reads its input's error plus the rounding the node is charged
        // with (lowering it is what put the Cast there).
        while (v != nullptr && v->producer() != nullptr && v->producer()->op() == ir::OpKind::kCast) {
            v = v->producer()->input(0);
        }
        if (v == nullptr) return 0.0;
        auto it = valueError.find(v->name());
        return it == valueError.end() || std::isnan(it->second) ? 0.0 : it->second;
    };
    std::vector<std::pair<double, std::string>> growth;
    std::vector<std::pair<double, std::string>> rest;
    for (const auto& node : graph.nodes()) {
        if (node->name().empty() || node->op() == ir::OpKind::kCast) continue;
        double in = 0;
        double out = 0;
        for (const ir::Value* v : node->inputs()) in = std::max(in, errorOf(v));
        for (const ir::Value* v : node->outputs()) {
            auto it = v ? valueError.find(v->name()) : valueError.end();
            // An output that went NaN or infinite in low precision is the most sensitive layer there is.
            const double e = it != valueError.end() && !std::isfinite(it->second) ? INFINITY : errorOf(v);
            out = std::max(out, e);
        }
        if (out > in) {
            growth.emplace_back(out - in, node->name());
        } else if (out > 0) {
            rest.emplace_back(out, node->name());
        }
    }
    // Layers that add error first, by how much; then the ones downstream of it by their output's error (their own
    // rounding hides under what they inherit, so it cannot be measured here, but keeping them in FP32 still helps).
    auto byFirst = [](const auto& a, const auto& b) { return a.first > b.first; };
    std::stable_sort(growth.begin(), growth.end(), byFirst);
    std::stable_sort(rest.begin(), rest.end(), byFirst);
    std::vector<std::string> ranked;
    ranked.reserve(growth.size() + rest.size());
    for (auto& [g, name] : growth) ranked.push_back(std::move(name));
    for (auto& [e, name] : rest) ranked.push_back(std::move(name));
    return ranked;
}

}  // namespace kiln::builder
