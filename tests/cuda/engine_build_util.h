// Building an engine from an ONNX file in the CUDA engine tests, through the builder's internal entry point so that
// the optimized graph (tactics, fused nodes) can be inspected beside the engine. Each test sets what it needs on the
// config (precision, optimization level, timing cache, profiles) in `configure`.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>

#include "builder/builder_internal.h"
#include "cuda/engine_test_util.h"
#include "kiln/kiln.h"

namespace kiln::testing {

struct Built {
    RecordingLogger logger;  // first: the engine may log until it is destroyed
    builder::BuiltNetwork net;
    double seconds = 0;  //!< The wall time of building the parsed network.
    //! The build log's tactic line ("tactics: ..."), empty without one.
    std::string summary() const { return logger.find("tactics: "); }
};

using ConfigureBuild = std::function<void(Builder&, BuilderConfig&)>;

//! Parses `path` and builds it for `backend` with the config `configure` leaves; failures fail the test.
inline void buildFile(const std::string& path, Backend backend, const ConfigureBuild& configure, Built& out) {
    Builder builder(out.logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, out.logger);
    ASSERT_TRUE(parser.parseFromFile(path).isOk());
    auto config = builder.createBuilderConfig();
    config->setBackend(backend);
    if (configure) configure(builder, *config);
    if (::testing::Test::HasFatalFailure()) return;
    const auto started = std::chrono::steady_clock::now();
    auto built = builder::buildNetwork(*network, *config, out.logger);
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ASSERT_TRUE(built.isOk()) << built.status().message();
    out.net = std::move(built).value();
}

}  // namespace kiln::testing
