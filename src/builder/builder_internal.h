// What builder.cpp shares with engine_reuse.cpp (Builder::buildEngineFile): the built engine of a network with
// the metadata its engine file records, and the build options a config records there.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/kiln.h"
#include "plan/engine_file.h"
#include "runtime/engine_impl.h"

namespace kiln::builder {

//! A network after validation and the pass pipeline, as an engine of the backend the config resolves to, with
//! what its engine file records about the build (for CUDA, the activation arena measured at build).
struct BuiltNetwork {
    std::unique_ptr<Engine> engine;
    std::shared_ptr<const ir::Graph> graph;  //!< The optimized graph the engine runs (and its file stores).
    plan::EngineMetadata metadata;           //!< This Kiln, backend, device, model path/SHA-256/stamp, options.
};

//! Validates `config` against `network`, optimizes a copy of the network's graph (the network is unchanged) and
//! makes the engine. Fails, logging at kError, as Builder::buildEngine does. With an accuracy target set, this is
//! buildGuarded (accuracy_guard.h); otherwise buildUnguarded.
Result<BuiltNetwork> buildNetwork(NetworkDefinition& network, const BuilderConfig& config, ILogger& logger);

//! buildNetwork without the accuracy guard (the config's target is ignored).
Result<BuiltNetwork> buildUnguarded(NetworkDefinition& network, const BuilderConfig& config, ILogger& logger);

//! Builds with the accuracy guard of `config` (BuilderConfig::setAccuracyTarget); defined in accuracy_guard.cpp.
Result<BuiltNetwork> buildGuarded(NetworkDefinition& network, const BuilderConfig& config, ILogger& logger);

//! A network with a copy of `network`'s graph, marks and model identity, to mark more tensors in without touching
//! the caller's (empty when `network` is empty or not a Builder's).
std::unique_ptr<NetworkDefinition> copyNetwork(const NetworkDefinition& network);

//! The graph a network holds (nullptr when empty or not made by a Builder). Read-only.
const ir::Graph* graphOf(const NetworkDefinition& network);

//! A copy of `config` with everything but the accuracy guard (no target, no calibration inputs).
std::unique_ptr<BuilderConfig> copyConfig(const BuilderConfig& config);

//! The build options `config` records in an engine file (precision flags, workspace, optimization level, timing
//! cache, profiles; the device for CUDA), as plan::EngineMetadata::buildOptions. Keys "cuda.*" (library versions,
//! the measured arena) are recorded by the build, not chosen by the config. kInvalidArgument for a config not made
//! by a Builder; an error when the config asks for a backend this machine does not have.
Result<std::map<std::string, std::string>> buildOptionsOf(const BuilderConfig& config);

//! The backend engines built with `config` record: "cuda" or "cpu" (kAuto resolved as Builder resolves it).
Result<std::string> backendNameOf(const BuilderConfig& config);

}  // namespace kiln::builder
