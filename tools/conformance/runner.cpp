#include "runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/cpu/executor.h"
#include "common/dispatch.h"
#include "engine_runner.h"
#include "frontend/onnx/importer.h"
#include "frontend/onnx/tensor_proto.h"
#include "passes/passes.h"

namespace kiln::conformance {

namespace fs = std::filesystem;

const char* outcomeName(Outcome o) {
    switch (o) {
        case Outcome::kPass: return "PASS";
        case Outcome::kFail: return "FAIL";
        case Outcome::kUnsupported: return "UNSUPPORTED";
    }
    return "?";
}

std::string compareTensors(const Tensor& got, const Tensor& want, const Tolerance& tol, double* worstRel) {
    if (got.dtype() != want.dtype()) {
        return std::string("dtype ") + dataTypeName(got.dtype()) + ", expected " + dataTypeName(want.dtype());
    }
    if (got.shape() != want.shape())
        return "shape " + shapeToString(got.shape()) + ", expected " + shapeToString(want.shape());
    if (got.dtype() == DataType::kString) {
        for (int64_t i = 0; i < got.numel(); ++i) {
            if (got.strings()[i] != want.strings()[i]) return "string mismatch at " + std::to_string(i);
        }
        return {};
    }
    const int64_t n = got.numel();
    if (!isFloatingPoint(got.dtype())) {
        for (int64_t i = 0; i < n; ++i) {
            if (got.getInt(i) != want.getInt(i)) {
                return "element " + std::to_string(i) + " is " + std::to_string(got.getInt(i)) + ", expected " +
                       std::to_string(want.getInt(i));
            }
        }
        return {};
    }
    if (tol.maxRel > 0) {
        double maxAbsWant = 0;
        double maxDiff = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double g = got.getDouble(i);
            const double w = want.getDouble(i);
            if (std::isnan(g) != std::isnan(w)) return "NaN mismatch at element " + std::to_string(i);
            if (std::isnan(g)) continue;
            maxAbsWant = std::max(maxAbsWant, std::fabs(w));
            maxDiff = std::max(maxDiff, std::fabs(g - w));
        }
        const double rel = maxAbsWant > 0 ? maxDiff / maxAbsWant : maxDiff;
        if (worstRel) *worstRel = std::max(*worstRel, rel);
        if (rel > tol.maxRel) {
            std::ostringstream os;
            os << "max|diff|/max|ref| = " << rel << " > " << tol.maxRel;
            return os.str();
        }
        return {};
    }
    for (int64_t i = 0; i < n; ++i) {
        const double g = got.getDouble(i);
        const double w = want.getDouble(i);
        if (std::isnan(w) && std::isnan(g)) continue;
        if (std::isinf(w) && g == w) continue;
        if (!(std::fabs(g - w) <= tol.atol + tol.rtol * std::fabs(w))) {
            std::ostringstream os;
            os << "element " << i << " is " << g << ", expected " << w;
            return os.str();
        }
    }
    return {};
}

namespace {

std::vector<fs::path> numberedFiles(const fs::path& dir, const std::string& prefix) {
    std::vector<std::pair<int, fs::path>> files;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string f = e.path().filename().string();
        if (f.rfind(prefix, 0) == 0 && e.path().extension() == ".pb") {
            files.emplace_back(std::atoi(f.substr(prefix.size()).c_str()), e.path());
        }
    }
    std::sort(files.begin(), files.end());
    std::vector<fs::path> out;
    for (auto& f : files) out.push_back(f.second);
    return out;
}

//! ONNX 1.12's test data stores bfloat16 tensors as uint16 bits; reinterpret them where the model says bfloat16.
Tensor asDeclared(Tensor t, DataType declared) {
    if (declared != DataType::kBFloat16 || t.dtype() != DataType::kUInt16) return t;
    Tensor out(DataType::kBFloat16, t.shape());
    if (t.byteSize() > 0) std::memcpy(out.raw(), t.raw(), t.byteSize());
    return out;
}

//! `t` with every element rounded to `precision` ("tf32": 10 mantissa bits kept, as tensor cores read FP32 in
//! TF32 mode; "fp16", "bf16") and back to float32; other dtypes and an empty precision pass through.
Tensor roundedTo(Tensor t, const std::string& precision) {
    if (precision.empty() || t.dtype() != DataType::kFloat32) return t;
    Tensor out = t.clone();
    float* p = out.data<float>();
    for (int64_t i = 0; i < out.numel(); ++i) {
        if (precision == "fp16") {
            p[i] = static_cast<float>(Half(p[i]));
        } else if (precision == "bf16") {
            p[i] = static_cast<float>(BFloat16(p[i]));
        } else if (std::isfinite(p[i])) {  // tf32: round-to-nearest-even at mantissa bit 13
            uint32_t u = 0;
            std::memcpy(&u, &p[i], 4);
            u = (u + 0xFFFu + ((u >> 13) & 1u)) & 0xFFFFE000u;
            std::memcpy(&p[i], &u, 4);
        }
    }
    return out;
}

}  // namespace

TestResult runTest(const std::string& dir, const std::string& name, const Tolerance& tol, const RunOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    TestResult r;
    r.name = name;
    auto finish = [&](Outcome o, std::string detail) {
        r.outcome = o;
        r.detail = std::move(detail);
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return r;
    };
    auto model = onnx_frontend::importOnnxFile((fs::path(dir) / "model.onnx").string());
    if (!model) {
        const bool unsup = model.status().code() == ErrorCode::kUnsupported;
        return finish(unsup ? Outcome::kUnsupported : Outcome::kFail, model.status().message());
    }
    const ir::Graph& graph = *model->graph;
    // The optimized graph is a second import (the IR has no deep copy), rewritten by the pass pipeline.
    std::unique_ptr<ir::Graph> optimized;
    if (options.optimize) {
        auto second = onnx_frontend::importOnnxFile((fs::path(dir) / "model.onnx").string());
        if (!second) return finish(Outcome::kFail, second.status().message());
        optimized = std::move(second->graph);
        passes::PassManager pm(passes::defaultPipeline());
        auto report = pm.run(*optimized);
        if (!report) return finish(Outcome::kFail, "optimizing: " + report.status().message());
    }
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    }
    std::sort(sets.begin(), sets.end());
    if (sets.empty()) return finish(Outcome::kFail, "no test_data_set_* folder");
    double worst = 0;
    cpu::Executor executor;
    std::unique_ptr<EngineRunner> engine;
    for (const auto& set : sets) {
        std::vector<Tensor> inputs;
        for (const auto& f : numberedFiles(set, "input_")) {
            auto t = onnx_frontend::readTensorProtoFile(f.string());
            if (!t)
                return finish(Outcome::kUnsupported, "input " + f.filename().string() + ": " + t.status().message());
            const size_t i = inputs.size();
            const DataType declared = i < graph.inputs().size() ? graph.inputs()[i]->dtype() : DataType::kUndefined;
            inputs.push_back(roundedTo(asDeclared(std::move(t).value(), declared), options.roundInputs));
        }
        std::vector<Tensor> expected;
        for (const auto& f : numberedFiles(set, "output_")) {
            auto t = onnx_frontend::readTensorProtoFile(f.string());
            if (!t)
                return finish(Outcome::kUnsupported, "output " + f.filename().string() + ": " + t.status().message());
            const size_t i = expected.size();
            const DataType declared = i < graph.outputs().size() ? graph.outputs()[i]->dtype() : DataType::kUndefined;
            expected.push_back(asDeclared(std::move(t).value(), declared));
        }
        if (inputs.size() != graph.inputs().size()) {
            return finish(Outcome::kFail, "data set has " + std::to_string(inputs.size()) + " inputs, model takes " +
                                              std::to_string(graph.inputs().size()));
        }
        if (options.backend != "ref" && !engine) {
            EngineOptions engineOptions{options.backend, options.precision, options.accuracy, options.emulate, {}};
            if (options.accuracy > 0) {
                for (const auto& e : fs::directory_iterator(dir)) {
                    if (!e.is_directory() || e.path().filename().string().rfind("calib_set_", 0) != 0) continue;
                    std::vector<Tensor> sample;
                    for (const auto& f : numberedFiles(e.path(), "input_")) {
                        auto t = onnx_frontend::readTensorProtoFile(f.string());
                        if (!t)
                            return finish(Outcome::kFail, "calibration " + f.string() + ": " + t.status().message());
                        const DataType declared = sample.size() < graph.inputs().size()
                                                      ? graph.inputs()[sample.size()]->dtype()
                                                      : DataType::kUndefined;
                        sample.push_back(asDeclared(std::move(t).value(), declared));
                    }
                    engineOptions.calibration.push_back(std::move(sample));
                }
            }
            auto made = EngineRunner::create((fs::path(dir) / "model.onnx").string(), engineOptions, inputs);
            if (!made) {
                const bool unsup = made.status().code() == ErrorCode::kUnsupported;
                return finish(unsup ? Outcome::kUnsupported : Outcome::kFail, "build: " + made.status().message());
            }
            engine = std::move(made).value();
        }
        auto outs = engine ? engine->run(graph, inputs) : executor.run(graph, inputs);
        if (!outs) {
            const bool unsup = outs.status().code() == ErrorCode::kUnsupported;
            return finish(unsup ? Outcome::kUnsupported : Outcome::kFail, outs.status().message());
        }
        if (optimized) {
            auto opt = executor.run(*optimized, inputs);
            if (!opt) return finish(Outcome::kFail, "optimized graph: " + opt.status().message());
            Tolerance same;
            same.maxRel = options.optimizedMaxRel;
            for (size_t i = 0; i < outs->size() && i < opt->size(); ++i) {
                std::string diff = compareTensors((*opt)[i], (*outs)[i], same);
                if (!diff.empty()) {
                    return finish(Outcome::kFail, "optimized graph output " + std::to_string(i) + " '" +
                                                      graph.outputs()[i]->name() +
                                                      "' differs from unoptimized: " + diff);
                }
            }
            outs = std::move(opt);
        }
        if (outs->size() != expected.size()) {
            return finish(Outcome::kFail, "model produced " + std::to_string(outs->size()) + " outputs, expected " +
                                              std::to_string(expected.size()));
        }
        for (size_t i = 0; i < expected.size(); ++i) {
            std::string diff = compareTensors((*outs)[i], expected[i], tol, &worst);
            if (!diff.empty()) {
                const std::string guard = engine ? engine->guardSummary() : std::string();
                return finish(Outcome::kFail, set.filename().string() + " output " + std::to_string(i) + " '" +
                                                  graph.outputs()[i]->name() + "': " + diff +
                                                  (guard.empty() ? "" : "; " + guard));
            }
        }
    }
    std::string detail;
    if (tol.maxRel > 0) {
        std::ostringstream os;
        os << "max rel error " << worst;
        detail = os.str();
    }
    if (engine && !engine->guardSummary().empty()) detail += (detail.empty() ? "" : "; ") + engine->guardSummary();
    return finish(Outcome::kPass, detail);
}

Result<std::map<std::string, Expectation>> loadExpectations(const std::string& path) {
    std::ifstream in(path);
    if (!in) return notFound("cannot open expectations file '" + path + "'");
    std::map<std::string, Expectation> out;
    std::string line;
    int lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string name;
        Expectation e;
        ls >> name >> e.category;
        std::getline(ls, e.reason);
        e.reason.erase(0, e.reason.find_first_not_of(" \t"));
        if (name.empty() || e.category.empty() || e.reason.empty()) {
            return invalidArgument(path + ":" + std::to_string(lineNo) + ": expected 'test category reason'");
        }
        if (out.count(name)) return invalidArgument(path + ":" + std::to_string(lineNo) + ": duplicate entry " + name);
        out[name] = std::move(e);
    }
    return out;
}

}  // namespace kiln::conformance
