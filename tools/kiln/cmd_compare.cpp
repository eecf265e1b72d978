// kiln compare: the engine against the reference executor on the imported (un-optimized) model, same inputs, per
// output error and pass/fail (kiln/validate.h); with --mark, every intermediate tensor too, and the first one that
// goes wrong. Exit code 0 pass, 1 fail.
#include <cmath>
#include <cstdio>

#include "build_flags.h"
#include "cli.h"
#include "inputs.h"
#include "kiln/validate.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace {

struct CompareArgs {
    std::string model;
    std::string engine;
    std::vector<std::string> inputs;
    uint64_t seed = 1;
    double rtol = -1;
    double atol = -1;
    std::string mark;
    BuildFlags flags;
};

std::string producerText(const OutputComparison& o) {
    if (o.producerOp.empty()) return "-";
    return o.producerOp + (o.producerName.empty() ? "" : " '" + o.producerName + "'");
}

//! One row per tensor: the model's outputs alone, or (with --mark) every tensor with the node that computed it.
int printRows(const ValidationReport& report, bool marked) {
    int failed = 0;
    if (marked) {
        std::printf("  %-28s %-28s %-16s %12s %12s %11s  %s\n", "tensor (topological order)", "computed by", "shape",
                    "max abs err", "max rel err", "mismatches", "result");
    } else {
        std::printf("  %-28s %-16s %12s %12s %11s  %s\n", "output", "shape", "max abs err", "max rel err", "mismatches",
                    "result");
    }
    for (const OutputComparison& o : report.outputs) {
        failed += o.passed ? 0 : 1;
        std::string result = o.passed ? "pass" : "FAIL";
        if (o.marked && o.engineDtype != o.dtype && o.engineDtype != DataType::kUndefined) {
            result += std::string(" (") + dataTypeName(o.engineDtype) + " vs " + dataTypeName(o.dtype) + ")";
        }
        if (!o.problem.empty()) result += ": " + o.problem;
        if (marked) {
            std::printf("  %-28s %-28s %-16s %12.4g %12.4g %11lld  %s\n", o.name.c_str(), producerText(o).c_str(),
                        shapeToString(o.shape).c_str(), o.maxAbsError, o.maxRelError,
                        static_cast<long long>(o.mismatches), result.c_str());
        } else {
            std::printf("  %-28s %-16s %12.4g %12.4g %11lld  %s\n", o.name.c_str(), shapeToString(o.shape).c_str(),
                        o.maxAbsError, o.maxRelError, static_cast<long long>(o.mismatches), result.c_str());
        }
    }
    return failed;
}

int runCompare(CompareArgs& a) {
    if (Status s = checkBuildFlagSyntax(a.flags); !s) return usage(s.message());
    std::vector<InputFile> files;
    for (const std::string& text : a.inputs) {
        auto f = parseInputFlag(text, "--input");
        if (!f) return usage(f.status().message());
        files.push_back(*f);
    }
    auto parsed = parseShapeMap(a.flags.shapes, "--shapes");
    if (!parsed) return usage(parsed.status().message());
    std::map<std::string, Shape> shapes = std::move(parsed).value();
    if (Status s = checkReadable(a.model, "model"); !s) return fail(s);
    if (!a.mark.empty() && isEngineFile(a.engine)) {
        return usage("--mark needs the engine built from the model, and '" + a.engine +
                     "' is an engine file (its outputs were fixed when it was built): give the .onnx instead, "
                     "e.g. kiln compare " +
                     a.model + " " + a.model + " --mark " + a.mark + " with the build flags");
    }
    auto src = loadOrBuildEngine(a.engine, a.flags, false, a.mark);
    if (!src) return fail(src.status());
    auto given = loadInputFiles(*src->engine, files, shapes);
    if (!given) return fail(given.status());
    for (const auto& [name, t] : *given) shapes[name] = t.shape();
    auto plan = planInputs(*src->engine, shapes);
    if (!plan) return fail(plan.status());
    auto inputs = makeInputs(*src->engine, *plan, *given, a.seed);
    if (!inputs) return fail(inputs.status());

    // The CPU backend computes in FP32 whatever the flags allow: hold it to FP32's tolerance.
    Tolerances tol = Tolerances::forFlags(src->backend == "cpu" ? std::set<BuilderFlag>{} : src->precision);
    if (a.rtol >= 0) tol.rtol = a.rtol;
    if (a.atol >= 0) tol.atol = a.atol;
    std::printf("reference: %s on the CPU executor, as imported (no passes)\n", a.model.c_str());
    std::printf("engine:    %s (backend %s, allows %s%s)\n", a.engine.c_str(), src->backend.c_str(),
                precisionText(src->precision).c_str(), src->backend == "cpu" ? ", computes in fp32" : "");
    for (const auto& [name, t] : *inputs) {
        std::printf("input:     %s %s (%s)\n", name.c_str(), t.describe().c_str(),
                    given->count(name) ? "from file" : ("random, seed " + std::to_string(a.seed)).c_str());
    }
    std::printf("tolerance: %s (|engine - reference| <= atol + rtol * max|reference|)\n", tol.describe().c_str());
    auto report = validateEngine(*src->engine, a.model, *inputs, tol);
    if (!report) return fail(report.status());

    const bool marked = src->marked > 0;
    const int failed = printRows(*report, marked);
    const char* what = marked ? "tensor" : "output";
    const size_t total = report->outputs.size();
    if (failed == 0) {
        std::printf("PASS: %zu %s%s within tolerance\n", total, what, total == 1 ? "" : "s");
        return kExitOk;
    }
    std::printf("FAIL: %d of %zu %ss outside tolerance\n", failed, total, what);
    if (const OutputComparison* first = report->firstFailure(); first && marked) {
        std::printf("first outside tolerance: '%s', computed by %s (later failures may follow from it)\n",
                    first->name.c_str(), first->producerOp.empty() ? "no node" : producerText(*first).c_str());
    }
    return kExitNo;
}

}  // namespace

Handler addCompareCommand(CLI::App& app) {
    auto a = std::make_shared<CompareArgs>();
    CLI::App* cmd = app.add_subcommand(
        "compare", "Check an engine against the reference executor on the same inputs (exit 0 pass, 1 fail)");
    cmd->add_option("model", a->model, "The ONNX model, e.g. kiln compare resnet50.onnx resnet50.engine")->required();
    cmd->add_option("engine", a->engine, "Its engine file (or the ONNX again: built in memory with the flags)")
        ->required();
    cmd->add_option("--input", a->inputs, "An input from a file instead of random data, e.g. --input x:x.npy");
    cmd->add_option("--seed", a->seed, "Seed of the random inputs, e.g. --seed 7")->capture_default_str();
    cmd->add_option("--rtol", a->rtol,
                    "Relative tolerance (default by precision: fp32 1e-4, tf32 2e-3, fp16/bf16 1e-2), e.g. --rtol 1e-3")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--atol", a->atol, "Absolute tolerance (default rtol / 100), e.g. --atol 1e-5")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--mark", a->mark,
                    "Also compare intermediate tensors, 'all' or name1,name2 (Polygraphy's --mark): the engine is "
                    "built from the .onnx with them as extra outputs, every tensor is listed in topological order "
                    "and the first one outside tolerance is named with its node, e.g. --mark all");
    addBuildFlags(*cmd, a->flags);
    return [a] { return runCompare(*a); };
}

}  // namespace kiln::cli
