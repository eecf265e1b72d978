// kiln bench: the performance report of an engine (or of an ONNX model, built in memory first).
#include <cstdio>

#include "bench.h"
#include "build_flags.h"
#include "cli.h"
#include "plot.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace {

struct BenchArgs {
    std::string model;
    BuildFlags flags;
    BenchOptions options;
    std::vector<std::string> inputs;
    std::string percentiles = "90,95,99";
    std::string exportPath;
    std::string plotPath;
};

Result<std::vector<double>> parsePercentiles(const std::string& text) {
    std::vector<double> out;
    for (const std::string& item : splitList(text)) {
        try {
            size_t used = 0;
            const double p = std::stod(item, &used);
            if (used != item.size() || p < 0 || p > 100) throw std::invalid_argument(item);
            out.push_back(p);
        } catch (const std::exception&) {
            return invalidArgument("--percentiles '" + text + "': '" + item + "' is not a percentile in [0, 100]");
        }
    }
    return out;
}

}  // namespace

int prepareBench(const std::string& percentiles, const BuildFlags& flags, const std::vector<std::string>& inputFlags,
                 const std::vector<std::string>& outputs, BenchOptions& options, std::vector<InputFile>& inputFiles) {
    if (Status s = checkBuildFlagSyntax(flags); !s) return usage(s.message());
    auto p = parsePercentiles(percentiles);
    if (!p) return usage(p.status().message());
    options.percentiles = *p;
    if (options.iterations < 1) return usage("--iterations must be at least 1");
    auto shapes = parseShapeMap(flags.shapes, "--shapes");
    if (!shapes) return usage(shapes.status().message());
    options.shapes = std::move(shapes).value();
    for (const std::string& text : inputFlags) {
        auto f = parseInputFlag(text, "--input");
        if (!f) return usage(f.status().message());
        inputFiles.push_back(*f);
    }
    for (const std::string& path : outputs) {
        if (Status s = checkWritable(path, "output"); !path.empty() && !s) return fail(s);
    }
    return kExitOk;
}

int runBenchOn(EngineSource& src, BenchOptions& options, const std::vector<InputFile>& inputFiles,
               const std::string& exportPath, const std::string& plotPath, bool trtexecStyle) {
    auto given = loadInputFiles(*src.engine, inputFiles, options.shapes);
    if (!given) return fail(given.status());
    options.givenInputs = std::move(given).value();
    if (src.backend == "cpu") {
        for (const auto& [on, flag] :
             {std::pair{options.cudaGraph, trtexecStyle ? "--useCudaGraph" : "--cuda-graph"},
              std::pair{options.noCudaGraph, "--no-cuda-graph"},
              std::pair{options.noTransfers, trtexecStyle ? "--noDataTransfers" : "--no-data-transfers"},
              std::pair{options.spinWait, trtexecStyle ? "--useSpinWait" : "--spin-wait"}}) {
            if (on) warn(std::string(flag) + " has no effect on the cpu backend (no device, no transfers, no events)");
        }
    }
    auto result = runBench(*src.engine, src.backend, options);
    if (!result) return fail(result.status());
    printBenchReport(*result, options, trtexecStyle, logger().verbose());
    if (!exportPath.empty()) {
        if (Status s = exportTimes(exportPath, *result); !s) return fail(s);
        std::printf("%swrote %zu iteration times to %s\n", trtexecStyle ? "[I] " : "", result->iterations.size(),
                    exportPath.c_str());
    }
    if (!plotPath.empty()) {
        if (Status s = writeLatencyPlot(plotPath, *result); !s) return fail(s);
        std::printf("wrote the latency plot to %s\n", plotPath.c_str());
    }
    return kExitOk;
}

namespace {

int runBenchCommand(BenchArgs& a) {
    std::vector<InputFile> inputFiles;
    if (int rc = prepareBench(a.percentiles, a.flags, a.inputs, {a.exportPath, a.plotPath}, a.options, inputFiles);
        rc != kExitOk) {
        return rc;
    }
    auto src = loadOrBuildEngine(a.model, a.flags);
    if (!src) return fail(src.status());
    return runBenchOn(*src, a.options, inputFiles, a.exportPath, a.plotPath, false);
}

}  // namespace

Handler addBenchCommand(CLI::App& app) {
    auto a = std::make_shared<BenchArgs>();
    CLI::App* cmd = app.add_subcommand("bench", "Measure an engine's latency and throughput (trtexec's report)");
    cmd->add_option("model", a->model, "Engine file, or an ONNX model to build in memory first, e.g. r50.engine")
        ->required();
    BenchOptions& o = a->options;
    cmd->add_option("--warmup", o.warmupMs, "Warm-up time in ms before measuring, e.g. --warmup 500")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--iterations", o.iterations, "Run at least this many iterations, e.g. --iterations 100")
        ->capture_default_str();
    cmd->add_option("--duration", o.durationS, "...and at least this many seconds, e.g. --duration 10")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--streams", o.streams,
                    "Concurrent contexts, one thread each (and one CUDA stream each on a GPU), e.g. --streams 2")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--seed", o.seed, "Seed of the random inputs, e.g. --seed 7")->capture_default_str();
    cmd->add_option("--input", a->inputs, "An input from a file instead of random data, e.g. --input x:x.npy");
    cmd->add_option("--percentiles", a->percentiles, "Latency percentiles to report, e.g. --percentiles 50,99.9")
        ->capture_default_str();
    cmd->add_option("--export-times", a->exportPath,
                    "Write every iteration's times as JSON, e.g. --export-times t.json");
    cmd->add_option("--plot", a->plotPath, "Draw the latency histogram and timeline, e.g. --plot latency.png");
    cmd->add_flag("--cuda-graph", o.cudaGraph,
                  "CUDA: replay a CUDA graph of the enqueue each iteration (the default; with this flag a fallback "
                  "to plain enqueues also prints a warning saying why)");
    cmd->add_flag("--no-cuda-graph", o.noCudaGraph, "CUDA: launch every kernel from the host, no CUDA graph");
    cmd->add_flag("--no-data-transfers,--no-transfers", o.noTransfers,
                  "CUDA: no H2D/D2H copies per iteration, the inputs stay on the device (copied once)");
    cmd->add_flag("--spin-wait", o.spinWait,
                  "CUDA: busy-poll the end of each iteration (steadier timings) instead of a blocking wait");
    addBuildFlags(*cmd, a->flags);
    cmd->footer(
        "--shapes sets the input shapes of the run (within the engine's profile; dynamic inputs default to the\n"
        "profile's opt shape) and, for an ONNX model, the profile it is built with.\n"
        "On a CUDA engine each iteration copies the inputs in from pinned host memory (H2D), enqueues, copies the\n"
        "outputs out (D2H) and waits, on the context's own stream; CUDA events time the three phases, and the\n"
        "report gives H2D, GPU compute and D2H latency as trtexec does. The CPU backend has no copies: it says so.\n"
        "Examples:\n"
        "  kiln bench resnet50.engine --shapes input:8x3x224x224 --iterations 200 --duration 10\n"
        "  kiln bench resnet50.onnx --streams 2 --export-times times.json --plot latency.png\n"
        "  kiln bench resnet50.onnx --backend cuda --fp16 --cuda-graph --no-data-transfers --spin-wait");
    return [a] { return runBenchCommand(*a); };
}

}  // namespace kiln::cli
