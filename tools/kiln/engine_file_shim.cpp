// TEMPORARY stand-in for Builder::buildEngineFile, so that `kiln build` links and runs before the `reuse` branch
// (which implements it in src/builder/ with model hashing and staleness checks) is merged. DELETE this file and
// its lines in CMakeLists.txt / tests/CMakeLists.txt at that merge: two definitions then fail to link, which is
// the reminder.
//
// What it does: without `force`, an existing file that loads is reported as kLoaded (no staleness check);
// otherwise it parses, builds with buildSerializedNetwork and writes the bytes.
#include <filesystem>
#include <fstream>

#include "kiln/kiln.h"

namespace kiln {

Result<EngineFileResult> Builder::buildEngineFile(const std::string& onnxPath, const BuilderConfig& config,
                                                  const std::string& enginePath, const EngineFileOptions& options) {
    EngineFileResult result;
    if (!options.force && std::filesystem::exists(enginePath)) {
        Runtime runtime(mLogger);
        if (auto engine = runtime.loadEngineFile(enginePath)) {
            result.engine = std::move(engine).value();
            result.action = EngineFileAction::kLoaded;
            result.reason = "the file holds an engine (staleness is not checked until the reuse branch is merged)";
            return result;
        }
    }
    std::unique_ptr<NetworkDefinition> network = createNetwork();
    OnnxParser parser(*network, mLogger);
    KILN_RETURN_IF_ERROR(parser.parseFromFile(onnxPath));
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<HostMemory> blob, buildSerializedNetwork(*network, config));
    const std::string tmp = enginePath + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(static_cast<const char*>(blob->data()), static_cast<std::streamsize>(blob->size()));
        if (!out) return ioError("cannot write engine file '" + enginePath + "'");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, enginePath, ec);
    if (ec) return ioError("cannot write engine file '" + enginePath + "': " + ec.message());
    Runtime runtime(mLogger);
    KILN_ASSIGN_OR_RETURN(result.engine, runtime.deserializeEngine(blob->data(), blob->size()));
    result.action = EngineFileAction::kBuilt;
    result.reason = options.force ? "--force" : "no engine file";
    return result;
}

}  // namespace kiln
