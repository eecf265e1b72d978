// trtexec's flags (TensorRT 8.6-10.x `trtexec --help`) and what each becomes in `kiln exec`.
#include <algorithm>
#include <functional>
#include <map>

#include "cli.h"
#include "exec.h"
#include "shapes.h"

namespace kiln::cli {

const std::vector<TrtFlag>& trtexecFlags() {
    using K = TrtFlagKind;
    static const std::vector<TrtFlag> kFlags = {
        {"onnx", K::kMapped, "the model (kiln build MODEL)"},
        {"saveEngine", K::kMapped, "kiln build -o FILE"},
        {"loadEngine", K::kMapped, "kiln bench FILE"},
        {"fp16", K::kMapped, "--fp16"},
        {"bf16", K::kMapped, "--bf16"},
        {"int8", K::kMapped, "--int8"},
        {"best", K::kMapped, "--fp16 --bf16 --tf32 (INT8 only with Q/DQ nodes: not set)"},
        {"noTF32", K::kMapped, "--no-tf32 (TF32 is allowed by default, as in trtexec)"},
        {"minShapes", K::kMapped, "--min-shapes"},
        {"optShapes", K::kMapped, "--opt-shapes"},
        {"maxShapes", K::kMapped, "--max-shapes"},
        {"shapes", K::kMapped, "--shapes"},
        {"memPoolSize", K::kMapped, "--workspace (workspace:N, N in MiB unless a unit is given)"},
        {"workspace", K::kMapped, "--workspace (N in MiB)"},
        {"timingCacheFile", K::kMapped, "--timing-cache"},
        {"builderOptimizationLevel", K::kMapped, "--opt-level"},
        {"device", K::kMapped, "--device"},
        {"iterations", K::kMapped, "kiln bench --iterations"},
        {"duration", K::kMapped, "kiln bench --duration"},
        {"warmUp", K::kMapped, "kiln bench --warmup"},
        {"avgRuns", K::kMapped, "\"Average on N runs\" lines with --verbose"},
        {"percentile", K::kMapped, "kiln bench --percentiles"},
        {"streams", K::kMapped, "kiln bench --streams (contexts on their own CUDA streams and threads)"},
        {"infStreams", K::kMapped, "kiln bench --streams"},
        {"useCudaGraph", K::kMapped, "kiln bench --cuda-graph"},
        {"noDataTransfers", K::kMapped, "kiln bench --no-data-transfers"},
        {"useSpinWait", K::kMapped, "kiln bench --spin-wait"},
        {"exportTimes", K::kMapped, "kiln bench --export-times"},
        {"dumpProfile", K::kMapped, "kiln inspect --profile"},
        {"exportProfile", K::kMapped, "kiln inspect --export-profile"},
        {"separateProfileRun", K::kMapped, "Kiln always profiles layers in a separate run"},
        {"dumpLayerInfo", K::kMapped, "kiln inspect"},
        {"exportLayerInfo", K::kMapped, "kiln inspect --json"},
        {"loadInputs", K::kMapped, "kiln bench --input name:file (.npy, or raw data)"},
        {"exportOutput", K::kMapped, "kiln infer --save-outputs"},
        {"dumpOutput", K::kMapped, "kiln infer"},
        {"skipInference", K::kMapped, "kiln build"},
        {"buildOnly", K::kMapped, "kiln build"},
        {"verbose", K::kMapped, "kiln -v"},
        {"layerPrecisions", K::kMapped,
         "--layer-precisions (needs --precisionConstraints=obey or prefer, as in trtexec)"},
        {"precisionConstraints", K::kMapped,
         "--precision-constraints: none (default; then --layerPrecisions is refused, not ignored), prefer or obey"},
        {"profilingVerbosity", K::kNoEffect, "Kiln's layer information is always detailed"},
        {"noBuilderCache", K::kNoEffect, "Kiln keeps no timing cache unless --timingCacheFile names one"},
        {"noCompilationCache", K::kNoEffect, "Kiln has no compilation cache"},
        {"threads", K::kNoEffect, "Kiln's build is single-threaded"},
        {"useManagedMemory", K::kNoEffect, "Kiln uses device memory (cudaMalloc) and pinned host buffers"},
        {"exposeDMA", K::kNoEffect, "copies and compute share the context's stream: transfers are always serialized"},
        {"idleTime", K::kNoEffect, "iterations run back to back"},
        {"sleepTime", K::kNoEffect, "iterations run back to back"},
        {"tacticSources", K::kNoEffect,
         "CUDA tactics are the cuDNN and cuBLASLt heuristics' candidates (--builderOptimizationLevel: how many)"},
        {"hardwareCompatibilityLevel", K::kNoEffect, "engines are checked against their device at load"},
        {"versionCompatible", K::kNoEffect, "engines are rebuilt for each Kiln version"},
        {"allowGPUFallback", K::kNoEffect, "Kiln has no DLA"},
        {"directIO", K::kNoEffect, "I/O tensors are bound directly"},
        {"sparsity", K::kUnsupported, "Kiln has no sparse kernels"},
        {"calib", K::kUnsupported, "INT8 calibration is not implemented: use a model with Q/DQ nodes"},
        {"plugins", K::kUnsupported, "Kiln has no plugins"},
        {"staticPlugins", K::kUnsupported, "Kiln has no plugins"},
        {"inputIOFormats", K::kUnsupported, "I/O tensors keep the model's dtype and layout"},
        {"outputIOFormats", K::kUnsupported, "I/O tensors keep the model's dtype and layout"},
        {"layerOutputTypes", K::kUnsupported, "per-layer output types are not implemented (--layerPrecisions is)"},
        {"stronglyTyped", K::kUnsupported, "strongly typed networks are not implemented"},
        {"useDLACore", K::kUnsupported, "Kiln has no DLA"},
        {"safe", K::kUnsupported, "Kiln has no safety runtime"},
        {"refit", K::kUnsupported, "engines are not refittable"},
        {"batch", K::kUnsupported, "implicit batch is gone (TensorRT 10 too): give --shapes=name:NxCxHxW"},
        {"maxBatch", K::kUnsupported, "implicit batch is gone (TensorRT 10 too): give --maxShapes"},
        {"uff", K::kUnsupported, "only ONNX models are read"},
        {"deploy", K::kUnsupported, "only ONNX models are read"},
        {"model", K::kUnsupported, "only ONNX models are read"},
    };
    return kFlags;
}

namespace {

size_t editDistance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t next =
                std::min({row[j] + 1, row[j - 1] + 1, diag + (std::tolower(a[i - 1]) != std::tolower(b[j - 1]))});
            diag = row[j];
            row[j] = next;
        }
    }
    return row[b.size()];
}

Result<double> number(const std::string& flag, const std::string& value) {
    try {
        size_t used = 0;
        const double v = std::stod(value, &used);
        if (used != value.size() || v < 0) throw std::invalid_argument(value);
        return v;
    } catch (const std::exception&) {
        return invalidArgument("--" + flag + "='" + value + "': not a non-negative number");
    }
}

//! --memPoolSize=workspace:1024,dlaSRAM:1 → the workspace size text; other pools have no effect here.
Result<std::string> workspacePool(const std::string& value) {
    std::string workspace;
    for (const std::string& item : splitList(value)) {
        const size_t colon = item.find(':');
        if (colon == std::string::npos) {
            return invalidArgument("--memPoolSize='" + value + "': expected pool:size, e.g. workspace:1024");
        }
        if (item.substr(0, colon) == "workspace") {
            workspace = item.substr(colon + 1);
        } else {
            warn("--memPoolSize pool '" + item.substr(0, colon) + "' has no effect on this backend");
        }
    }
    return workspace;
}

}  // namespace

Status applyTrtexecFlag(const std::string& arg, ExecArgs& a) {
    if (arg.rfind("--", 0) != 0) {
        return invalidArgument("unexpected argument '" + arg + "': trtexec's flags are written --name=value");
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    const auto& flags = trtexecFlags();
    const auto known = std::find_if(flags.begin(), flags.end(), [&](const TrtFlag& f) { return name == f.name; });
    if (known == flags.end()) {
        const auto closest = std::min_element(flags.begin(), flags.end(), [&](const TrtFlag& x, const TrtFlag& y) {
            return editDistance(name, x.name) < editDistance(name, y.name);
        });
        std::string hint =
            editDistance(name, closest->name) <= 3 ? "; did you mean --" + std::string(closest->name) + "?" : "";
        return invalidArgument("unknown trtexec flag '--" + name + "'" + hint + " (`kiln exec --help` lists them)");
    }
    if (known->kind == TrtFlagKind::kUnsupported) {
        return unsupported("trtexec flag '--" + name + "' is not supported by kiln exec: " + known->note);
    }
    if (known->kind == TrtFlagKind::kNoEffect) {
        warn("trtexec flag '--" + name + "' has no effect here: " + known->note);
        return Status::ok();
    }
    // Switches, text values and numbers, each by the field it sets; then the few with their own syntax.
    const std::map<std::string, bool*> switches = {
        {"fp16", &a.build.fp16},
        {"bf16", &a.build.bf16},
        {"int8", &a.build.int8},
        {"noTF32", &a.build.noTf32},
        {"useCudaGraph", &a.bench.cudaGraph},
        {"noDataTransfers", &a.bench.noTransfers},
        {"useSpinWait", &a.bench.spinWait},
        {"dumpProfile", &a.dumpProfile},
        {"dumpLayerInfo", &a.dumpLayerInfo},
        {"dumpOutput", &a.dumpOutput},
        {"skipInference", &a.skipInference},
        {"buildOnly", &a.skipInference},
    };
    const std::map<std::string, std::string*> texts = {
        {"onnx", &a.onnx},
        {"saveEngine", &a.saveEngine},
        {"loadEngine", &a.loadEngine},
        {"minShapes", &a.build.minShapes},
        {"optShapes", &a.build.optShapes},
        {"maxShapes", &a.build.maxShapes},
        {"shapes", &a.build.shapes},
        {"workspace", &a.build.workspace},
        {"timingCacheFile", &a.build.timingCache},
        {"exportTimes", &a.exportTimes},
        {"exportProfile", &a.exportProfile},
        {"exportLayerInfo", &a.exportLayerInfo},
        {"exportOutput", &a.exportOutput},
        {"percentile", &a.percentiles},
    };
    const std::map<std::string, std::function<void(double)>> numbers = {
        {"iterations", [&](double v) { a.bench.iterations = static_cast<int64_t>(v); }},
        {"duration", [&](double v) { a.bench.durationS = v; }},
        {"warmUp", [&](double v) { a.bench.warmupMs = v; }},
        {"avgRuns", [&](double v) { a.bench.avgRuns = static_cast<int>(v); }},
        {"streams", [&](double v) { a.bench.streams = std::max(1, static_cast<int>(v)); }},
        {"infStreams", [&](double v) { a.bench.streams = std::max(1, static_cast<int>(v)); }},
        {"builderOptimizationLevel", [&](double v) { a.build.optLevel = static_cast<int>(v); }},
        {"device", [&](double v) { a.build.device = static_cast<int>(v); }},
    };
    if (auto it = switches.find(name); it != switches.end()) {
        *it->second = true;
    } else if (name == "best") {
        a.build.fp16 = a.build.bf16 = a.build.tf32 = true;
    } else if (name == "verbose") {
        logger().setVerbose(true);
    } else if (name == "separateProfileRun") {
        // Kiln always profiles layers in a run of their own.
    } else if (value.empty()) {
        return invalidArgument("--" + name + " needs a value: --" + name + "=...");
    } else if (auto t = texts.find(name); t != texts.end()) {
        *t->second = value;
    } else if (auto n = numbers.find(name); n != numbers.end()) {
        KILN_ASSIGN_OR_RETURN(const double v, number(name, value));
        n->second(v);
    } else if (name == "memPoolSize") {
        KILN_ASSIGN_OR_RETURN(a.build.workspace, workspacePool(value));
    } else if (name == "layerPrecisions") {
        KILN_RETURN_IF_ERROR(parseLayerPrecisions(value, "--layerPrecisions").status());
        a.build.layerPrecisions += (a.build.layerPrecisions.empty() ? "" : ",") + value;
    } else if (name == "precisionConstraints") {
        if (value != "none" && value != "prefer" && value != "obey") {
            return invalidArgument("--precisionConstraints='" + value + "': expected none, prefer or obey");
        }
        a.build.precisionConstraints = value;
    } else if (name == "loadInputs") {
        for (const std::string& item : splitList(value)) a.loadInputs.push_back(item);
    } else {
        return internalError("trtexec flag '--" + name + "' is listed as mapped but nothing handles it");
    }
    return Status::ok();
}

Status checkTrtexecArgs(const ExecArgs& a) {
    // trtexec applies --layerPrecisions only under obey or prefer; ignoring them would change the result.
    if (!a.build.layerPrecisions.empty() && a.build.precisionConstraints == "none") {
        return invalidArgument("--layerPrecisions='" + a.build.layerPrecisions +
                               "' takes effect only with --precisionConstraints=obey or prefer (trtexec ignores it "
                               "under none, the default): add one");
    }
    return Status::ok();
}

}  // namespace kiln::cli
