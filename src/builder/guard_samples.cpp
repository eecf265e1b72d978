#include "builder/guard_samples.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/dispatch.h"

namespace kiln::builder {
namespace {

bool isFloat(DataType t) {
    return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat64;
}

double valueAt(const Tensor& t, int64_t i) {
    switch (t.dtype()) {
        case DataType::kFloat32: return t.data<float>()[i];
        case DataType::kFloat16: return static_cast<float>(t.data<Half>()[i]);
        case DataType::kBFloat16: return static_cast<float>(t.data<BFloat16>()[i]);
        case DataType::kFloat64: return t.data<double>()[i];
        default: return 0;
    }
}

Result<std::vector<std::string>> inputNames(const Engine& engine) {
    std::vector<std::string> names;
    for (int32_t i = 0; i < engine.getNbIOTensors(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, engine.getIOTensorName(i));
        KILN_ASSIGN_OR_RETURN(TensorIOMode mode, engine.getTensorIOMode(name));
        if (mode == TensorIOMode::kINPUT) names.push_back(std::move(name));
    }
    return names;
}

}  // namespace

Status checkSamples(const Engine& engine, const std::vector<Sample>& samples) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> inputs, inputNames(engine));
    std::string list;
    for (const std::string& name : inputs) list += (list.empty() ? "" : ", ") + name;
    for (size_t s = 0; s < samples.size(); ++s) {
        const std::string where = "calibration sample " + std::to_string(s);
        for (const auto& [name, tensor] : samples[s]) {
            if (std::find(inputs.begin(), inputs.end(), name) == inputs.end()) {
                return invalidArgument(where + " gives '" + name +
                                       "', which is not an input of the network (inputs: " + list + ")");
            }
            KILN_ASSIGN_OR_RETURN(DataType want, engine.getTensorDataType(name));
            if (tensor.dtype() != want) {
                return invalidArgument(where + ": input '" + name + "' is " + dataTypeName(tensor.dtype()) +
                                       ", the network takes " + dataTypeName(want));
            }
        }
        for (const std::string& name : inputs) {
            if (!samples[s].count(name)) return invalidArgument(where + " lacks input '" + name + "'");
        }
    }
    return Status::ok();
}

Result<Sample> randomSample(const Engine& engine) {
    std::mt19937_64 rng(0x6b696c6e);  // fixed: the same engine for the same model and options
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> inputs, inputNames(engine));
    Sample sample;
    for (const std::string& name : inputs) {
        KILN_ASSIGN_OR_RETURN(DataType dtype, engine.getTensorDataType(name));
        KILN_ASSIGN_OR_RETURN(Shape shape, engine.getTensorShape(name));
        if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
            auto opt = engine.getProfileShape(name, 0, OptProfileSelector::kOPT);
            if (!opt) {
                return invalidArgument("accuracy guard: input '" + name + "' has dynamic shape " +
                                       shapeToString(shape) + " and no profile: give calibration inputs");
            }
            shape = *opt;
        }
        KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));  // zeroed: integers 0, bools false
        if (isFloat(dtype)) {
            KILN_RETURN_IF_ERROR(dispatchFloat(dtype, [&]<typename T>() {
                for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = fromDouble<T>(uniform(rng));
                return Status::ok();
            }));
        }
        sample[name] = std::move(t);
    }
    return sample;
}

Result<std::vector<Sample>> runSamples(const Engine& engine, const std::vector<Sample>& samples,
                                       const std::string& what) {
    KILN_ASSIGN_OR_RETURN(auto context, engine.createExecutionContext());
    std::vector<Sample> outputs;
    for (size_t s = 0; s < samples.size(); ++s) {
        auto out = context->infer(samples[s]);
        if (!out) {
            return out.status().withContext("accuracy guard: running " + what + " on calibration sample " +
                                            std::to_string(s));
        }
        outputs.push_back(std::move(out).value());
    }
    return outputs;
}

double relativeError(const Tensor& got, const Tensor& ref) {
    if (!isFloat(ref.dtype()) || !isFloat(got.dtype())) return 0;
    if (got.shape() != ref.shape()) return INFINITY;
    double maxDiff = 0;
    double maxRef = 0;
    for (int64_t i = 0; i < ref.numel(); ++i) {
        const double a = valueAt(got, i);
        const double b = valueAt(ref, i);
        if (!std::isfinite(b)) {
            // The FP32 reference overflowed here too: only the same value agrees.
            if (a == b || (std::isnan(a) && std::isnan(b))) continue;
            return INFINITY;
        }
        if (!std::isfinite(a)) return INFINITY;
        maxDiff = std::max(maxDiff, std::abs(a - b));
        maxRef = std::max(maxRef, std::abs(b));
    }
    return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}

}  // namespace kiln::builder
