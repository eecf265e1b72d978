#include "build_flags.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "bench_cuda.h"
#include "cli.h"
#include "engine_info.h"
#include "frontend/onnx/tensor_proto.h"
#include "kiln/validate.h"
#include "tensor_io.h"

namespace kiln::cli {

std::set<BuilderFlag> BuildFlags::precisionFlags() const {
    std::set<BuilderFlag> out;
    if (fp16) out.insert(BuilderFlag::kFP16);
    if (bf16) out.insert(BuilderFlag::kBF16);
    if (int8) out.insert(BuilderFlag::kINT8);
    // TF32 is allowed by default (BuilderConfig's default, as in TensorRT); --no-tf32 clears it, --tf32 is implied.
    if (!noTf32) out.insert(BuilderFlag::kTF32);
    return out;
}

std::string precisionText(const std::set<BuilderFlag>& flags) {
    std::string s = "fp32";
    if (flags.count(BuilderFlag::kTF32)) s += "+tf32";
    if (flags.count(BuilderFlag::kFP16)) s += "+fp16";
    if (flags.count(BuilderFlag::kBF16)) s += "+bf16";
    if (flags.count(BuilderFlag::kINT8)) s += "+int8";
    return s;
}

void addPinnedPrecisions(const std::vector<std::pair<std::string, DataType>>& pins, std::set<BuilderFlag>& flags) {
    for (const auto& [pattern, dtype] : pins) {
        if (dtype == DataType::kFloat16) flags.insert(BuilderFlag::kFP16);
        if (dtype == DataType::kBFloat16) flags.insert(BuilderFlag::kBF16);
    }
}

void addBuildFlags(CLI::App& cmd, BuildFlags& f, bool forRun) {
    cmd.add_flag("--fp16", f.fp16, "Allow FP16 kernels where the backend has them (the CPU computes in FP32)");
    cmd.add_flag("--bf16", f.bf16, "Allow BF16 kernels where the backend has them");
    cmd.add_flag("--int8", f.int8, "Allow INT8 (needs a model with Q/DQ nodes)");
    cmd.add_flag("--tf32", f.tf32, "Allow TF32 for FP32 matrix math on GPUs (the default)");
    cmd.add_flag("--no-tf32", f.noTf32, "Forbid TF32, allowed by default (overrides --tf32): IEEE FP32 matrix math");
    const std::string shapesHelp = forRun ? "Input shapes of the run and, for inputs without --min/--opt/--max-shapes, "
                                            "the profile to build (min = opt = max), e.g. --shapes input:4x3x224x224"
                                          : "Profile shapes (min = opt = max) of inputs without --min/--opt/--max-"
                                            "shapes, e.g. --shapes input:4x3x224x224,mask:4x1";
    cmd.add_option("--shapes", f.shapes, shapesHelp);
    cmd.add_option("--min-shapes", f.minShapes, "Profile minimum shapes, e.g. --min-shapes input:1x3x224x224");
    cmd.add_option("--opt-shapes", f.optShapes,
                   "Profile shapes to optimize for, e.g. --opt-shapes input:8x3x224x224 (alone: min = max = opt)");
    cmd.add_option("--max-shapes", f.maxShapes, "Profile maximum shapes, e.g. --max-shapes input:32x3x224x224");
    cmd.add_option("--profile", f.profiles,
                   "One more optimization profile per flag, NAME:MIN/OPT/MAX[,NAME:...], e.g. "
                   "--profile input:1x3x224x224/4x3x224x224/8x3x224x224");
    cmd.add_option("--workspace", f.workspace,
                   "Scratch memory limit of the kernels, e.g. --workspace 1GiB (units B, KiB, MiB, GiB; KB, MB, GB)");
    cmd.add_option("--timing-cache", f.timingCache,
                   "CUDA: file of tactic timings reused across builds (read first, written back merged), e.g. "
                   "--timing-cache kiln.cache; a cache of another GPU or cuDNN/cuBLASLt version is ignored");
    cmd.add_option("--opt-level", f.optLevel,
                   "CUDA tactic timing per cuDNN/cuBLASLt layer: 0 none (heuristics' first choice), 1..4 the best "
                   "2/4/8/16 candidates, 5 all; default 3, e.g. --opt-level 5")
        ->check(CLI::Range(0, 5));
    cmd.add_option("--backend", f.backend, "Backend to build for, e.g. --backend cpu (auto: the best available)")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    cmd.add_option("--device", f.device, "GPU index for the CUDA backend, e.g. --device 1")
        ->check(CLI::NonNegativeNumber);
    cmd.add_option("--layer-precisions", f.layerPrecisions,
                   "Pin layers to a precision, NAME:PREC[,...] with node names or * patterns (op:TYPE matches op "
                   "types; later entries win), PREC fp32, fp16 or bf16, e.g. --layer-precisions '*Softmax*:fp32,"
                   "op:Resize:fp32' (the CPU computes in FP32 anyway)");
    cmd.add_option("--precision-constraints", f.precisionConstraints,
                   "When a pinned layer has no kernel in its precision: obey (the build fails) or prefer (it stays "
                   "fp32, with a warning)")
        ->check(CLI::IsMember({"obey", "prefer"}))
        ->capture_default_str();
    cmd.add_flag("--emulate-precision", f.emulatePrecision,
                 "CPU backend: run --fp16/--bf16 engines lowered as on a GPU, on FP16/BF16 reference kernels (slow; "
                 "previews GPU accuracy, and lets --accuracy work on the CPU)");
    cmd.add_option("--accuracy", f.accuracy,
                   "Accuracy guard: keep the layers that amplify rounding in FP32 until the reduced-precision engine "
                   "is within RTOL (max|kiln - fp32| / max|fp32|) of an FP32 engine, e.g. --accuracy 1e-2");
    cmd.add_flag("--accuracy-strict", f.accuracyStrict,
                 "Fail the build when --accuracy is not met with every sensitive layer in FP32 (default: warn)");
    cmd.add_option("--calib-inputs", f.calibInputs,
                   "One calibration sample for --accuracy per flag, NAME:FILE[,NAME:FILE...] (.npy or ONNX .pb), "
                   "e.g. --calib-inputs x:photo1.npy --calib-inputs x:photo2.npy (default: random inputs)");
}

namespace {

//! --accuracy's value: a finite relative error > 0.
Result<double> parseAccuracy(const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(v > 0) || !std::isfinite(v)) {
        return invalidArgument("--accuracy '" + text + "': expected a relative error > 0, e.g. --accuracy 1e-2");
    }
    return v;
}

//! The samples of --calib-inputs, each file read (.npy or an ONNX TensorProto .pb).
Result<std::vector<std::map<std::string, Tensor>>> readCalibration(const std::vector<std::string>& flags) {
    std::vector<std::map<std::string, Tensor>> samples;
    for (const std::string& flag : flags) {
        std::map<std::string, Tensor> sample;
        for (const std::string& item : splitList(flag)) {
            KILN_ASSIGN_OR_RETURN(InputFile f, parseInputFlag(item, "--calib-inputs"));
            KILN_RETURN_IF_ERROR(checkReadable(f.path, "calibration input"));
            const bool pb = f.path.size() > 3 && f.path.compare(f.path.size() - 3, 3, ".pb") == 0;
            Result<Tensor> t = pb ? onnx_frontend::readTensorProtoFile(f.path) : readNpy(f.path);
            if (!t) return t.status().withContext("--calib-inputs " + item);
            sample[f.name] = std::move(t).value();
        }
        samples.push_back(std::move(sample));
    }
    return samples;
}

}  // namespace

Result<std::vector<std::map<std::string, ShapeRange>>> profilesFromFlags(const BuildFlags& f) {
    std::vector<std::map<std::string, ShapeRange>> profiles;
    std::map<std::string, ShapeRange> first;
    std::vector<std::pair<std::string, Shape>> shapes, mins, opts, maxs;
    if (!f.shapes.empty()) {
        KILN_ASSIGN_OR_RETURN(shapes, parseShapeList(f.shapes, "--shapes"));
    }
    if (!f.minShapes.empty()) {
        KILN_ASSIGN_OR_RETURN(mins, parseShapeList(f.minShapes, "--min-shapes"));
    }
    if (!f.optShapes.empty()) {
        KILN_ASSIGN_OR_RETURN(opts, parseShapeList(f.optShapes, "--opt-shapes"));
    }
    if (!f.maxShapes.empty()) {
        KILN_ASSIGN_OR_RETURN(maxs, parseShapeList(f.maxShapes, "--max-shapes"));
    }
    for (const auto& [name, s] : opts) first[name] = {s, s, s};
    for (const auto& [which, list, flag] :
         {std::tuple{0, &mins, "--min-shapes"}, std::tuple{2, &maxs, "--max-shapes"}}) {
        for (const auto& [name, s] : *list) {
            auto it = first.find(name);
            if (it == first.end()) {
                return invalidArgument(std::string(flag) + " gives '" + name +
                                       "' but --opt-shapes does not: give its opt shape too");
            }
            it->second[static_cast<size_t>(which)] = s;
        }
    }
    // As in trtexec, --shapes of an input that has min/opt/max shapes is only the shape a run uses.
    for (const auto& [name, s] : shapes) {
        if (!first.count(name)) first[name] = {s, s, s};
    }
    if (!first.empty()) profiles.push_back(std::move(first));
    for (const std::string& text : f.profiles) {
        KILN_ASSIGN_OR_RETURN(auto ranges, parseProfile(text, "--profile"));
        profiles.emplace_back(ranges.begin(), ranges.end());
    }
    return profiles;
}

Status checkBuildFlagSyntax(const BuildFlags& f) {
    KILN_RETURN_IF_ERROR(profilesFromFlags(f).status());
    if (!f.layerPrecisions.empty())
        KILN_RETURN_IF_ERROR(parseLayerPrecisions(f.layerPrecisions, "--layer-precisions").status());
    if (!f.workspace.empty())
        KILN_RETURN_IF_ERROR(parseByteSize(f.workspace, "--workspace", f.workspacePlainUnit).status());
    if (!f.accuracy.empty()) KILN_RETURN_IF_ERROR(parseAccuracy(f.accuracy).status());
    if (f.accuracy.empty() && (f.accuracyStrict || !f.calibInputs.empty())) {
        return invalidArgument(std::string(f.accuracyStrict ? "--accuracy-strict" : "--calib-inputs") +
                               " needs --accuracy RTOL");
    }
    for (const std::string& flag : f.calibInputs) {
        for (const std::string& item : splitList(flag)) {
            KILN_RETURN_IF_ERROR(parseInputFlag(item, "--calib-inputs").status());
        }
    }
    return Status::ok();
}

Result<std::unique_ptr<BuilderConfig>> makeConfig(Builder& builder, const BuildFlags& f) {
    std::unique_ptr<BuilderConfig> config = builder.createBuilderConfig();
    for (BuilderFlag flag : f.precisionFlags()) config->setFlag(flag);
    // The config starts with kTF32 set: setting flags alone could never turn it off.
    if (f.noTf32) config->clearFlag(BuilderFlag::kTF32);
    if (!f.workspace.empty()) {
        KILN_ASSIGN_OR_RETURN(size_t bytes, parseByteSize(f.workspace, "--workspace", f.workspacePlainUnit));
        config->setMemoryPoolLimit(bytes);
    }
    if (!f.timingCache.empty()) config->setTimingCachePath(f.timingCache);
    KILN_RETURN_IF_ERROR(config->setOptimizationLevel(f.optLevel));
    config->setBackend(f.backend == "cpu" ? Backend::kCpu : f.backend == "cuda" ? Backend::kCuda : Backend::kAuto);
    if (!f.layerPrecisions.empty()) {
        KILN_ASSIGN_OR_RETURN(auto pins, parseLayerPrecisions(f.layerPrecisions, "--layer-precisions"));
        for (const auto& [pattern, dtype] : pins) KILN_RETURN_IF_ERROR(config->setLayerPrecision(pattern, dtype));
    }
    if (f.precisionConstraints == "prefer") config->setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
    if (f.precisionConstraints == "obey") config->setFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
    KILN_RETURN_IF_ERROR(config->setDevice(f.device));
    if (f.emulatePrecision) config->setFlag(BuilderFlag::kEMULATE_REDUCED_PRECISION);
    if (!f.accuracy.empty()) {
        KILN_ASSIGN_OR_RETURN(double target, parseAccuracy(f.accuracy));
        KILN_RETURN_IF_ERROR(config->setAccuracyTarget(target, f.accuracyStrict));
        KILN_ASSIGN_OR_RETURN(auto samples, readCalibration(f.calibInputs));
        config->setCalibrationInputs(std::move(samples));
    }
    KILN_ASSIGN_OR_RETURN(auto profiles, profilesFromFlags(f));
    for (size_t i = 0; i < profiles.size(); ++i) {
        std::unique_ptr<OptimizationProfile> p = builder.createOptimizationProfile();
        for (const auto& [name, range] : profiles[i]) {
            for (auto sel : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
                KILN_RETURN_IF_ERROR(p->setDimensions(name, sel, range[static_cast<size_t>(sel)]));
            }
        }
        const Status s = config->addOptimizationProfile(*p);
        if (!s) return s.withContext(i == 0 ? "--shapes/--min/--opt/--max-shapes" : "--profile " + f.profiles[i - 1]);
    }
    return config;
}

bool isEngineFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char magic[sizeof plan::kEngineMagic] = {};
    in.read(magic, sizeof magic);
    return in.gcount() == sizeof magic && std::memcmp(magic, plan::kEngineMagic, sizeof magic) == 0;
}

Result<EngineSource> loadOrBuildEngine(const std::string& path, const BuildFlags& flags, bool quiet,
                                       const std::string& mark) {
    KILN_RETURN_IF_ERROR(checkReadable(path, "model or engine"));
    EngineSource src;
    src.path = path;
    const auto start = std::chrono::steady_clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    if (isEngineFile(path)) {
        if (!mark.empty()) {
            return invalidArgument("cannot mark tensors of '" + path +
                                   "': an engine file's outputs are fixed when it is built; give the ONNX model "
                                   "instead, so that it is built with the marks");
        }
        Runtime runtime(logger());
        KILN_ASSIGN_OR_RETURN(src.engine, runtime.loadEngineFile(path));
        // The precision the engine allows is in its header (not in the public API); the body was verified above.
        KILN_ASSIGN_OR_RETURN(plan::EngineFile file, readEngineFile(path, false));
        src.precision = precisionFlagsOf(file.metadata);
        src.backend = file.metadata.backend;
        src.buildSeconds = seconds();
        if (!quiet) std::printf("loaded engine %s in %.2f s\n", path.c_str(), src.buildSeconds);
        return src;
    }
    Builder builder(logger());
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<BuilderConfig> config, makeConfig(builder, flags));
    std::unique_ptr<NetworkDefinition> network = builder.createNetwork();
    OnnxParser parser(*network, logger());
    KILN_RETURN_IF_ERROR(parser.parseFromFile(path));
    if (mark == "all") {
        KILN_ASSIGN_OR_RETURN(src.marked, markAllTensors(*network));
    } else if (!mark.empty()) {
        for (const std::string& name : splitList(mark)) {
            KILN_RETURN_IF_ERROR(network->markOutput(name).withContext("--mark"));
            ++src.marked;
        }
    }
    KILN_ASSIGN_OR_RETURN(src.engine, builder.buildEngine(*network, *config));
    src.fromOnnx = true;
    // The backend it was built for, decided as the builder decides it (kAuto: CUDA when a GPU is usable).
#if KILN_HAVE_CUDA
    const bool gpu = cudaGpuPresent();
#else
    const bool gpu = false;
#endif
    src.backend = flags.backend == "cuda" || (flags.backend == "auto" && gpu) ? "cuda" : "cpu";
    src.precision = flags.precisionFlags();
    addPinnedPrecisions(config->getLayerPrecisions(), src.precision);
    src.buildSeconds = seconds();
    if (!quiet) {
        std::printf("built %s in memory in %.2f s", path.c_str(), src.buildSeconds);
        if (src.marked > 0) std::printf(" with %d more tensors marked as outputs", src.marked);
        std::printf("\n");
    }
    return src;
}

}  // namespace kiln::cli
