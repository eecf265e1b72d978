// kiln check: every node Kiln cannot import or run, all at once, before any build.
// kiln run: runs a model on the CPU reference executor with TensorProto inputs (a debugging aid).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "backends/cpu/executor.h"
#include "cli.h"
#include "frontend/onnx/importer.h"
#include "frontend/onnx/tensor_proto.h"
#include "postprocess.h"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

struct CheckArgs {
    std::string model;
    std::string backend = "auto";
};

int runCheck(const CheckArgs& a) {
    auto report = onnx_frontend::checkOnnxFile(a.model);
    if (!report) return fail(report.status());
    if (!report->empty()) {
        const std::string count =
            std::to_string(report->size()) + " unsupported node" + (report->size() == 1 ? "" : "s");
        std::cout << a.model << ": " << count << "\n";
        for (const auto& u : *report) std::cout << "  " << u.describe() << "\n";
        fail(unsupported(count).withContext(a.model));
        return kExitNo;
    }
    // Every op the importer accepts has a CPU kernel (src/ir/ops.def). Another backend is asked by building for it:
    // the builder checks the backend before any optimization, so an unavailable one fails at once.
    if (a.backend == "cuda") {
        Builder builder(logger());
        auto network = builder.createNetwork();
        OnnxParser parser(*network, logger());
        if (Status s = parser.parseFromFile(a.model); !s) return fail(s);
        auto config = builder.createBuilderConfig();
        config->setBackend(Backend::kCuda);
        auto engine = builder.buildEngine(*network, *config);
        if (!engine) return fail(engine.status().withContext(a.model));
    }
    std::cout << a.model << ": all nodes are supported" << (a.backend == "auto" ? "" : " on backend " + a.backend)
              << "\n";
    return kExitOk;
}

struct RunArgs {
    std::string model;
    std::vector<std::string> inputs;
    std::string outDir;
};

int runModel(const RunArgs& a) {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = onnx_frontend::importOnnxFile(a.model);
    if (!model) return fail(model.status());
    const auto t1 = std::chrono::steady_clock::now();
    std::unordered_map<std::string, Tensor> inputs;
    for (const auto& spec : a.inputs) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos) return usage("--input '" + spec + "' must be name=file.pb");
        auto t = onnx_frontend::readTensorProtoFile(spec.substr(eq + 1));
        if (!t) return fail(t.status());
        inputs[spec.substr(0, eq)] = std::move(t).value();
    }
    auto outs = cpu::Executor().runNamed(*model->graph, inputs);
    if (!outs) return fail(outs.status());
    const auto t2 = std::chrono::steady_clock::now();
    if (!a.outDir.empty()) {
        std::error_code ec;
        fs::create_directories(a.outDir, ec);
        if (ec) return fail(ioError("cannot create output folder '" + a.outDir + "': " + ec.message()));
    }
    for (const ir::Value* o : model->graph->outputs()) {
        const Tensor& t = outs->at(o->name());
        std::cout << o->name() << ": " << describeTensor(t) << "\n";
        if (!a.outDir.empty()) {
            onnx::TensorProto proto;
            onnx_frontend::tensorToProto(t, o->name(), proto);
            const fs::path path = fs::path(a.outDir) / (o->name() + ".pb");
            std::ofstream f(path, std::ios::binary);
            if (!f || !proto.SerializeToOstream(&f)) return fail(ioError("cannot write '" + path.string() + "'"));
        }
    }
    auto ms = [](auto x, auto y) { return std::chrono::duration<double, std::milli>(y - x).count(); };
    std::cout << "import " << ms(t0, t1) << " ms, run " << ms(t1, t2) << " ms\n";
    return kExitOk;
}

}  // namespace

Handler addCheckCommand(CLI::App& app) {
    auto a = std::make_shared<CheckArgs>();
    CLI::App* cmd =
        app.add_subcommand("check", "List every node Kiln cannot import or run, all at once (exit 1 if any)");
    cmd->add_option("model", a->model, "ONNX model file, e.g. kiln check resnet50.onnx")->required();
    cmd->add_option("--backend", a->backend, "Also check that this backend can run it, e.g. --backend cpu")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    return [a] { return runCheck(*a); };
}

Handler addRunCommand(CLI::App& app) {
    auto a = std::make_shared<RunArgs>();
    CLI::App* cmd = app.add_subcommand("run", "Run a model on the CPU reference executor (no optimization)");
    cmd->add_option("model", a->model, "ONNX model file")->required();
    cmd->add_option("--input", a->inputs, "name=file.pb (a serialized ONNX TensorProto), e.g. --input x=input_0.pb");
    cmd->add_option("--output-dir", a->outDir, "Write each output as <name>.pb here, e.g. --output-dir out/");
    return [a] { return runModel(*a); };
}

}  // namespace kiln::cli
