// The ONNX backend-test runner: imports each test model, runs its data sets on the CPU reference backend and
// compares with the stored outputs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::conformance {

enum class Outcome { kPass, kFail, kUnsupported };

const char* outcomeName(Outcome o);

struct Tolerance {
    double rtol = 1e-3;
    double atol = 1e-7;
    //! When > 0, compare by max|got - want| / max|want| <= maxRel instead (real-model checks).
    double maxRel = 0;
};

struct TestResult {
    std::string name;  //!< "<suite>/<test>"
    Outcome outcome = Outcome::kFail;
    std::string detail;  //!< Why it failed / is unsupported; the worst error for passes with maxRel.
    double seconds = 0;
};

//! Compares one output; returns an empty string when it matches, else what differs.
std::string compareTensors(const Tensor& got, const Tensor& want, const Tolerance& tol, double* worstRel = nullptr);

//! When set, the optimizing pass pipeline (passes::defaultPipeline) runs on the imported graph; the optimized
//! graph's outputs must agree with the unoptimized graph's within `optimizedMaxRel` (max|a-b|/max|b|) before they
//! are compared with the stored outputs.
struct RunOptions {
    bool optimize = false;
    double optimizedMaxRel = 1e-5;
    //! "ref": the CPU reference executor on the imported graph (the default). "cpu" / "cuda": an engine built
    //! through the public API for that backend, at `precision` (fp32, tf32, fp16, bf16).
    std::string backend = "ref";
    std::string precision = "fp32";
    //! "tf32", "fp16" or "bf16": float32 inputs are rounded to that precision (and back) before the run, so an FP32
    //! run measures how much the model's outputs move when only its inputs lose that precision: the noise floor a
    //! reduced-precision engine cannot go below. Empty: inputs as stored.
    std::string roundInputs;
    //! > 0 (backend cpu|cuda): build with the accuracy guard at this target, calibrated on the test folder's
    //! calib_set_*/input_<i>.pb (inputs other than the ones judged) or, without them, on random inputs.
    double accuracy = 0;
    bool emulate = false;  //!< --emulate-precision: FP16/BF16 lowering emulated on the CPU backend.
};

//! Runs one test folder (model.onnx + test_data_set_*).
TestResult runTest(const std::string& dir, const std::string& name, const Tolerance& tol,
                   const RunOptions& options = {});

//! Expectations: test name → (category, reason), from a file of lines `name  category  reason...`.
struct Expectation {
    std::string category;
    std::string reason;
};
Result<std::map<std::string, Expectation>> loadExpectations(const std::string& path);

}  // namespace kiln::conformance
