// Builder::buildEngineFile: build-or-load an engine file, the seed's workflow made safe.
//
// The engine path is a cache of the build. It is reused (memory-mapped, body checksum verified) only when the file
// was built from the same model bytes (SHA-256), with the same build options, for the same backend and device, by
// this Kiln version in this engine format. Anything else is stale and rebuilt (or, with rebuildStale = false,
// refused with a message naming both sides and the command that rebuilds it); a damaged file is rebuilt with a
// warning. Writes go through plan::saveEngineFile (temp file + fsync + rename), so a crash never leaves half an
// engine behind.
#include <filesystem>
#include <set>

#include "builder/builder_internal.h"
#include "kiln/kiln.h"
#include "plan/engine_file.h"
#include "runtime/engine_impl.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using runtime::logLine;
using Severity = ILogger::Severity;

//! First 12 hex digits: enough to tell two models apart in a one-line message.
std::string shortSha(const std::string& sha) { return sha.size() > 12 ? sha.substr(0, 12) + "..." : sha; }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

//! "opt_level 3 -> 1, fp16 0 -> 1": the options that differ between the engine and the config, both sides.
std::string optionsDiff(const std::map<std::string, std::string>& recorded,
                        const std::map<std::string, std::string>& wanted) {
    std::set<std::string> keys;
    for (const auto& kv : recorded) keys.insert(kv.first);
    for (const auto& kv : wanted) keys.insert(kv.first);
    std::string diff;
    for (const std::string& k : keys) {
        // "cuda.*": library versions and the arena the build measured, not options (the device check covers them);
        // "accuracy.*": what the accuracy guard found ("accuracy_target" is the option).
        if (k.rfind("cuda.", 0) == 0 || k.rfind("accuracy.", 0) == 0) continue;
        auto r = recorded.find(k);
        auto w = wanted.find(k);
        const std::string from = r == recorded.end() ? "(unset)" : quoted(r->second);
        const std::string to = w == wanted.end() ? "(unset)" : quoted(w->second);
        if (from != to) diff += (diff.empty() ? "" : ", ") + k + " " + from + " -> " + to;
    }
    return diff;
}

//! Why a well-formed engine built by or for something else does not fit, naming both sides.
std::string mismatchReason(const plan::EngineLoadFailure& why) {
    switch (why.fault) {
        case plan::EngineFault::kFormatVersion:
            return "engine format version " + why.found + ", this Kiln " KILN_VERSION " writes format version " +
                   why.expected;
        case plan::EngineFault::kKilnVersion: return "built by Kiln " + why.found + ", this is Kiln " + why.expected;
        case plan::EngineFault::kBackend:
            return "built for backend '" + why.found + "', this build targets backend '" + why.expected + "'";
        case plan::EngineFault::kDevice: return "built for device " + why.found + ", this device is " + why.expected;
        default: return plan::engineFaultName(why.fault);
    }
}

class EngineFileBuilder {
public:
    EngineFileBuilder(Builder& builder, ILogger& logger, const std::string& onnxPath, const BuilderConfig& config,
                      const std::string& enginePath, const EngineFileOptions& options)
        : mBuilder(builder),
          mLogger(logger),
          mOnnxPath(onnxPath),
          mConfig(config),
          mEnginePath(enginePath),
          mOptions(options) {}

    Result<EngineFileResult> run() {
        if (mEnginePath.empty()) return invalidArgument("buildEngineFile needs an engine path");
        KILN_ASSIGN_OR_RETURN(mWantedOptions, builder::buildOptionsOf(mConfig));
        std::error_code ec;
        const bool exists = fs::exists(mEnginePath, ec);
        if (!exists) {
            if (mOnnxPath.empty()) {
                return notFound("engine file '" + mEnginePath + "' does not exist and no model was given to build it");
            }
            return build(mOnnxPath, EngineFileAction::kBuilt, "no engine file at '" + mEnginePath + "'");
        }
        if (mOptions.force) return forced();

        plan::EngineExpectation expect;
        KILN_ASSIGN_OR_RETURN(expect.backend, builder::backendNameOf(mConfig));
#if KILN_HAVE_CUDA
        if (expect.backend == "cuda") {
            KILN_ASSIGN_OR_RETURN(plan::EngineMetadata here, runtime::cudaEngineMetadata(mConfig.getDevice()));
            expect.deviceName = here.deviceName;
            expect.computeMajor = here.computeMajor;
            expect.computeMinor = here.computeMinor;
        }
#endif
        plan::EngineLoadFailure why;
        auto file = plan::loadEngineFile(mEnginePath, expect, &why);
        if (!file) {
            if (why.needsRebuild()) return stale(mismatchReason(why), why.modelPath);
            if (why.fault == plan::EngineFault::kIo) return file.status();
            if (why.fault == plan::EngineFault::kNotAnEngine) {
                // Most likely a wrong argument (the model path given as the engine path): never overwrite it.
                return invalidArgument(file.status().message() + "; refusing to overwrite it (remove it or use force)");
            }
            const std::string model = mOnnxPath.empty() ? why.modelPath : mOnnxPath;
            logLine(mLogger, Severity::kWarning, file.status().message() + ": rebuilding it");
            if (model.empty()) {
                return invalidModel(file.status().message() + " and no model was given to rebuild it from");
            }
            return build(model, EngineFileAction::kRebuilt,
                         "damaged engine file replaced (" + std::string(plan::engineFaultName(why.fault)) + ")");
        }
        return loaded(std::move(file).value());
    }

private:
    //! A well-formed engine of this Kiln/backend/device: reuse it when the model and options match too.
    Result<EngineFileResult> loaded(plan::EngineFile file) {
        const plan::EngineMetadata& meta = file.metadata;
        const std::string model = mOnnxPath.empty() ? meta.modelPath : mOnnxPath;
        std::error_code ec;
        std::string modelCheck = "model sha256 " + shortSha(meta.modelSha256);
        if (!mOnnxPath.empty() || (!model.empty() && fs::exists(model, ec))) {
            // A model that keeps the stamp it had when the engine hashed it is the same file: hashing it again
            // (100 MB for ResNet-50) would cost more than the rest of loading the engine.
            if (!meta.modelStamp.empty() && plan::fileStamp(model) == meta.modelStamp) {
                modelCheck += " (model file unchanged since hashed: same size and mtime)";
            } else {
                auto sha = plan::sha256File(model);
                if (!sha) return sha.status().withContext("model of engine '" + mEnginePath + "'");
                if (*sha != meta.modelSha256) {
                    return stale("model changed: sha256 " + shortSha(meta.modelSha256) + " -> " + shortSha(*sha) +
                                     " (" + model + ")",
                                 meta.modelPath);
                }
            }
        } else {
            logLine(mLogger, Severity::kInfo,
                    "engine file '" + mEnginePath + "': its source model '" + meta.modelPath +
                        "' is not reachable, so the model is not checked");
        }
#if KILN_HAVE_CUDA
        if (meta.backend == "cuda") {
            if (const std::string why = runtime::cudnnMismatch(meta); !why.empty()) return stale(why, meta.modelPath);
        }
#endif
        const std::string diff = optionsDiff(meta.buildOptions, mWantedOptions);
        if (!diff.empty()) return stale("build options changed: " + diff, meta.modelPath);

        const std::string reason =
            "matches " + modelCheck + ", build options, backend " + meta.backend + " and Kiln " + meta.kilnVersion;
        KILN_ASSIGN_OR_RETURN(auto engine, runtime::engineFromFile(std::move(file), mEnginePath, mLogger));
        logLine(mLogger, Severity::kInfo, "loaded engine file '" + mEnginePath + "' (" + reason + ")");
        return EngineFileResult{std::move(engine), EngineFileAction::kLoaded, reason};
    }

    //! The file does not fit: rebuild it from the given model or the one it records, unless the caller opted out.
    Result<EngineFileResult> stale(const std::string& reason, const std::string& recordedModel) {
        const std::string model = mOnnxPath.empty() ? recordedModel : mOnnxPath;
        const std::string command = "kiln build " + (model.empty() ? "<model>" : model) + " -o " + mEnginePath;
        const std::string what = "engine file '" + mEnginePath + "' is stale: " + reason;
        if (!mOptions.rebuildStale) return invalidArgument(what + "; rebuild with: " + command);
        std::error_code ec;
        if (model.empty() || !fs::exists(model, ec)) {
            return notFound(what + "; its source model " + (model.empty() ? "is not recorded" : quoted(model)) +
                            (model.empty() ? "" : " is not reachable") + ": rebuild with: " + command);
        }
        logLine(mLogger, Severity::kInfo, what + ": rebuilding it from '" + model + "'");
        return build(model, EngineFileAction::kRebuilt, reason);
    }

    //! `force`: rebuild whatever the file holds, from the given model or the one a readable header records.
    Result<EngineFileResult> forced() {
        std::string model = mOnnxPath;
        if (model.empty()) {
            plan::EngineExpectation any;
            any.kilnVersion.clear();
            any.backend.clear();
            any.verifyBodyChecksum = false;
            plan::EngineLoadFailure why;
            auto file = plan::loadEngineFile(mEnginePath, any, &why);
            model = file ? file->metadata.modelPath : why.modelPath;
            if (model.empty()) {
                return invalidArgument("force: no model was given and engine file '" + mEnginePath +
                                       "' records none to rebuild it from");
            }
        }
        return build(model, EngineFileAction::kBuilt, "force");
    }

    Result<EngineFileResult> build(const std::string& model, EngineFileAction action, const std::string& reason) {
        std::unique_ptr<NetworkDefinition> network = mBuilder.createNetwork();
        OnnxParser parser(*network, mLogger);
        KILN_RETURN_IF_ERROR(parser.parseFromFile(model));
        KILN_ASSIGN_OR_RETURN(builder::BuiltNetwork built, builder::buildNetwork(*network, mConfig, mLogger));
        KILN_RETURN_IF_ERROR(plan::saveEngineFile(mEnginePath, *built.graph, built.metadata));
        logLine(mLogger, Severity::kInfo,
                std::string(action == EngineFileAction::kRebuilt ? "rebuilt" : "built") + " engine file '" +
                    mEnginePath + "' from '" + model + "' (" + reason + ")");
        return EngineFileResult{std::move(built.engine), action, reason};
    }

    Builder& mBuilder;
    ILogger& mLogger;
    const std::string& mOnnxPath;
    const BuilderConfig& mConfig;
    const std::string& mEnginePath;
    const EngineFileOptions& mOptions;
    std::map<std::string, std::string> mWantedOptions;
};

}  // namespace

Result<EngineFileResult> Builder::buildEngineFile(const std::string& onnxPath, const BuilderConfig& config,
                                                  const std::string& enginePath, const EngineFileOptions& options) {
    auto result = EngineFileBuilder(*this, mLogger, onnxPath, config, enginePath, options).run();
    if (!result) logLine(mLogger, Severity::kError, result.status().message());
    return result;
}

}  // namespace kiln
