// Helpers of the CUDA engine tests that build small networks with input "x" and output "logits": a logger that keeps
// the build log, one inference through a fresh context, and the error measure of the accuracy checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::testing {

class RecordingLogger : public ILogger {
public:
    void log(Severity, const char* msg) noexcept override { lines.emplace_back(msg); }
    //! The first line containing `text`, or empty.
    std::string find(const std::string& text) const {
        for (const auto& l : lines) {
            if (l.find(text) != std::string::npos) return l;
        }
        return {};
    }
    bool saw(const std::string& text) const { return !find(text).empty(); }
    std::vector<std::string> lines;
};

//! Output "logits" of one run of `engine` on input "x" (failures are reported; the result is empty then).
inline Tensor runLogits(Engine& engine, const Tensor& x) {
    auto ctx = engine.createExecutionContext();
    EXPECT_TRUE(ctx.isOk()) << ctx.status().message();
    if (!ctx.isOk()) return {};
    auto out = (*ctx)->infer({{"x", x}});
    EXPECT_TRUE(out.isOk()) << out.status().message();
    return out.isOk() ? out->at("logits") : Tensor();
}

//! max |got - want| / max |want|; infinite (and a failure) when the shapes differ.
inline double relativeError(const Tensor& got, const Tensor& want) {
    EXPECT_EQ(got.shape(), want.shape());
    if (got.shape() != want.shape()) return INFINITY;
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
        diff = std::max(diff, std::fabs(got.getDouble(i) - want.getDouble(i)));
        ref = std::max(ref, std::fabs(want.getDouble(i)));
    }
    return diff / ref;
}

}  // namespace kiln::testing
