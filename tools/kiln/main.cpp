// kiln: the command-line tool. Subcommands so far: check, run.
//
//   kiln check model.onnx            every node Kiln cannot import, all at once
//   kiln run model.onnx --input x=in.pb [--output-dir out/]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "backends/cpu/executor.h"
#include "common/dispatch.h"
#include "frontend/onnx/importer.h"
#include "frontend/onnx/tensor_proto.h"

namespace fs = std::filesystem;
using namespace kiln;

namespace {

int fail(const Status& s) {
    std::cerr << "kiln: error: " << s.message() << "\n";
    return 1;
}

int runCheck(const std::string& path) {
    auto report = onnx_frontend::checkOnnxFile(path);
    if (!report) return fail(report.status());
    if (report->empty()) {
        std::cout << path << ": all nodes are supported\n";
        return 0;
    }
    const std::string count = std::to_string(report->size()) + " unsupported node" + (report->size() == 1 ? "" : "s");
    std::cout << path << ": " << count << "\n";
    for (const auto& u : *report) std::cout << "  " << u.describe() << "\n";
    return fail(unsupported(count).withContext(path));
}

std::string summarize(const Tensor& t) {
    std::string s = t.describe();
    if (t.numel() == 0 || t.dtype() == DataType::kString) return s;
    double lo = t.getDouble(0), hi = lo, sum = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
        const double v = t.getDouble(i);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
    }
    return s + " min " + std::to_string(lo) + " max " + std::to_string(hi) + " mean " +
           std::to_string(sum / static_cast<double>(t.numel()));
}

int runModel(const std::string& path, const std::vector<std::string>& inputSpecs, const std::string& outDir) {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = onnx_frontend::importOnnxFile(path);
    if (!model) return fail(model.status());
    const auto t1 = std::chrono::steady_clock::now();
    std::unordered_map<std::string, Tensor> inputs;
    for (const auto& spec : inputSpecs) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos) return fail(invalidArgument("--input '" + spec + "' must be name=file.pb"));
        auto t = onnx_frontend::readTensorProtoFile(spec.substr(eq + 1));
        if (!t) return fail(t.status());
        inputs[spec.substr(0, eq)] = std::move(t).value();
    }
    cpu::Executor executor;
    auto outs = executor.runNamed(*model->graph, inputs);
    if (!outs) return fail(outs.status());
    const auto t2 = std::chrono::steady_clock::now();
    for (const ir::Value* o : model->graph->outputs()) {
        const Tensor& t = outs->at(o->name());
        std::cout << o->name() << ": " << summarize(t) << "\n";
        if (!outDir.empty()) {
            fs::create_directories(outDir);
            onnx::TensorProto proto;
            onnx_frontend::tensorToProto(t, o->name(), proto);
            std::ofstream f(fs::path(outDir) / (o->name() + ".pb"), std::ios::binary);
            proto.SerializeToOstream(&f);
        }
    }
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    std::cout << "import " << ms(t0, t1) << " ms, run " << ms(t1, t2) << " ms\n";
    return 0;
}

int runCli(int argc, char** argv) {
    CLI::App app{"Kiln: ONNX to engine compiler and runtime"};
    app.require_subcommand(1);
    std::string model;
    auto* check = app.add_subcommand("check", "List every node Kiln cannot import, all at once (exit 1 if any)");
    check->add_option("model", model, "ONNX model file")->required();
    auto* run = app.add_subcommand("run", "Run a model on the CPU reference backend");
    std::vector<std::string> inputs;
    std::string outDir;
    run->add_option("model", model, "ONNX model file")->required();
    run->add_option("--input", inputs, "name=file.pb (a serialized ONNX TensorProto); repeatable");
    run->add_option("--output-dir", outDir, "Write each output as <name>.pb here");
    CLI11_PARSE(app, argc, argv);
    if (*check) return runCheck(model);
    return runModel(model, inputs, outDir);
}

}  // namespace

int main(int argc, char** argv) {
    // Kiln reports failures as Status; this is the last resort for what still throws (std::filesystem, allocation).
    try {
        return runCli(argc, argv);
    } catch (const std::exception& e) {
        return fail(internalError(std::string("unexpected exception: ") + e.what()));
    }
}
