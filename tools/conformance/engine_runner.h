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
    double accuracy = 0;             //!< > 0: the build's accuracy guard (BuilderConfig::setAccuracyTarget).
    bool emulate = false;            //!< kEMULATE_REDUCED_PRECISION (CPU backend).
    //! Calibration samples of the guard (each the model's inputs in order); empty: the guard's random inputs.
    std::vector<std::vector<Tensor>> calibration;
};

class EngineRunner {
public:
    //! Parses and builds `modelPath` (dynamic inputs fixed at `firstInputs`' shapes); fails with the builder's message.
    static Result<std::unique_ptr<EngineRunner>> create(const std::string& modelPath, const EngineOptions& options,
                                                        const std::vector<Tensor>& firstInputs);
    //! Runs one data set; `graph` (the imported model) gives the input/output names in order.
    Result<std::vector<Tensor>> run(const ir::Graph& graph, const std::vector<Tensor>& inputs);
    //! The accuracy guard's summary line of the build ("accuracy guard: kept ..."); empty without the guard.
    const std::string& guardSummary() const { return mLogger.guard; }

private:
    class Logger : public ILogger {
    public:
        void log(Severity severity, const char* msg) noexcept override {
            const std::string line = msg;
            if (severity <= Severity::kWarning && line.rfind("accuracy guard: target", 0) == 0) guard = line;
            if (line.rfind("accuracy guard: kept", 0) == 0) guard = line;
        }
        std::string guard;
    };
    Logger mLogger;
    std::unique_ptr<Engine> mEngine;
    std::unique_ptr<ExecutionContext> mContext;
};

}  // namespace kiln::conformance
