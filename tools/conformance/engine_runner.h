// Runs a conformance model through the public API (Builder → Engine → ExecutionContext::infer) on a chosen
// backend and precision, so the suites check what users run, passes and all.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/kiln.h"

namespace kiln::conformance {

struct EngineOptions {
    std::string backend = "cuda";    //!< "cpu" or "cuda".
    std::string precision = "fp32";  //!< "fp32" (TF32 off), "tf32", "fp16", "bf16".
};

class EngineRunner {
public:
    //! Parses and builds `modelPath` (dynamic inputs fixed at `firstInputs`' shapes); fails with the builder's message.
    static Result<std::unique_ptr<EngineRunner>> create(const std::string& modelPath, const EngineOptions& options,
                                                        const std::vector<Tensor>& firstInputs);
    //! Runs one data set; `graph` (the imported model) gives the input/output names in order.
    Result<std::vector<Tensor>> run(const ir::Graph& graph, const std::vector<Tensor>& inputs);

private:
    class Logger : public ILogger {
    public:
        void log(Severity, const char*) noexcept override {}
    };
    Logger mLogger;
    std::unique_ptr<Engine> mEngine;
    std::unique_ptr<ExecutionContext> mContext;
};

}  // namespace kiln::conformance
