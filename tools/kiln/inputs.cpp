#include "inputs.h"

#include <algorithm>
#include <random>
#include <type_traits>

#include "common/dispatch.h"

namespace kiln::cli {

namespace {

bool isDynamic(const Shape& s) {
    for (int64_t d : s) {
        if (d < 0) return true;
    }
    return false;
}

//! The shapes of every input under profile `p`, or the first problem.
Result<std::map<std::string, Shape>> shapesUnder(const Engine& engine, const std::vector<std::string>& inputs,
                                                 const std::map<std::string, Shape>& requested, int32_t p) {
    std::map<std::string, Shape> shapes;
    KILN_ASSIGN_OR_RETURN(auto context, engine.createExecutionContext());
    KILN_RETURN_IF_ERROR(context->setOptimizationProfile(p));
    for (const std::string& name : inputs) {
        Shape shape;
        if (auto it = requested.find(name); it != requested.end()) {
            shape = it->second;
        } else {
            KILN_ASSIGN_OR_RETURN(shape, engine.getTensorShape(name));
            if (isDynamic(shape)) {
                auto opt = engine.getProfileShape(name, p, OptProfileSelector::kOPT);
                if (!opt) {
                    return invalidArgument("input '" + name + "' has dynamic shape " + shapeToString(shape) +
                                           " and the engine has no profile for it: give --shapes " + name + ":...");
                }
                shape = *opt;
            }
        }
        KILN_RETURN_IF_ERROR(context->setInputShape(name, shape));
        shapes[name] = shape;
    }
    return shapes;
}

template <typename T>
void fillRandom(Tensor& t, std::mt19937_64& rng) {
    T* data = t.data<T>();
    if constexpr (std::is_same_v<T, bool>) {
        std::bernoulli_distribution coin(0.5);
        for (int64_t i = 0; i < t.numel(); ++i) data[i] = coin(rng);
    } else if constexpr (std::is_integral_v<T>) {
        std::uniform_int_distribution<int> dist(0, 9);
        for (int64_t i = 0; i < t.numel(); ++i) data[i] = static_cast<T>(dist(rng));
    } else {
        std::uniform_real_distribution<float> dist(-1.0F, 1.0F);
        for (int64_t i = 0; i < t.numel(); ++i) data[i] = fromDouble<T>(dist(rng));
    }
}

}  // namespace

Result<InputPlan> planInputs(const Engine& engine, const std::map<std::string, Shape>& requested) {
    InputPlan plan;
    for (int32_t i = 0; i < engine.getNbIOTensors(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, engine.getIOTensorName(i));
        KILN_ASSIGN_OR_RETURN(TensorIOMode mode, engine.getTensorIOMode(name));
        (mode == TensorIOMode::kINPUT ? plan.inputs : plan.outputs).push_back(name);
    }
    for (const auto& [name, shape] : requested) {
        auto mode = engine.getTensorIOMode(name);
        if (!mode || *mode != TensorIOMode::kINPUT) {
            std::string all;
            for (const std::string& n : plan.inputs) all += (all.empty() ? "" : ", ") + n;
            return notFound("'" + name + "' is not an input of the engine (its inputs: " + all + ")");
        }
    }
    Status first;
    for (int32_t p = 0; p < std::max(engine.getNbOptimizationProfiles(), 1); ++p) {
        auto shapes = shapesUnder(engine, plan.inputs, requested, p);
        if (shapes) {
            plan.profile = p;
            plan.shapes = std::move(shapes).value();
            return plan;
        }
        if (p == 0) first = shapes.status();
    }
    return first;
}

Result<std::map<std::string, Tensor>> makeInputs(const Engine& engine, const InputPlan& plan,
                                                 const std::map<std::string, Tensor>& given, uint64_t seed) {
    std::map<std::string, Tensor> out;
    for (size_t i = 0; i < plan.inputs.size(); ++i) {
        const std::string& name = plan.inputs[i];
        if (auto it = given.find(name); it != given.end()) {
            out[name] = it->second;
            continue;
        }
        KILN_ASSIGN_OR_RETURN(DataType dtype, engine.getTensorDataType(name));
        KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, plan.shapes.at(name)));
        std::mt19937_64 rng(seed * 1000003ULL + i);
        KILN_RETURN_IF_ERROR(dispatchAll(
            dtype,
            [&]<typename T>() {
                fillRandom<T>(t, rng);
                return Status::ok();
            },
            "random inputs"));
        out[name] = std::move(t);
    }
    return out;
}

Result<std::unique_ptr<ExecutionContext>> makeContext(const Engine& engine, const InputPlan& plan) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine.createExecutionContext());
    KILN_RETURN_IF_ERROR(context->setOptimizationProfile(plan.profile));
    for (const auto& [name, shape] : plan.shapes) KILN_RETURN_IF_ERROR(context->setInputShape(name, shape));
    return context;
}

int64_t batchOf(const InputPlan& plan) {
    if (plan.inputs.empty()) return 1;
    const Shape& s = plan.shapes.at(plan.inputs.front());
    return s.empty() ? 1 : s[0];
}

}  // namespace kiln::cli
