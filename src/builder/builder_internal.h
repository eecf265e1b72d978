// What builder.cpp shares with engine_reuse.cpp (Builder::buildEngineFile): the optimized graph of a network with
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

//! A network after validation and the pass pipeline, with what its engine file records about the build.
struct OptimizedNetwork {
    std::unique_ptr<ir::Graph> graph;
    plan::EngineMetadata metadata;  //!< This Kiln, backend, the network's model path and SHA-256, build options.
    std::vector<runtime::ProfileShapes> profiles;
};

//! Validates `config` against `network` and optimizes a copy of the network's graph (the network is unchanged).
//! Fails, logging at kError, as Builder::buildEngine does.
Result<OptimizedNetwork> optimizeNetwork(NetworkDefinition& network, const BuilderConfig& config, ILogger& logger);

//! The build options `config` records in an engine file (precision flags, workspace, optimization level, timing
//! cache, profiles), as plan::EngineMetadata::buildOptions. kInvalidArgument for a config not made by a Builder.
Result<std::map<std::string, std::string>> buildOptionsOf(const BuilderConfig& config);

//! The backend name engines built with `config` record ("cpu" today: kAuto resolves to it).
std::string backendNameOf(const BuilderConfig& config);

}  // namespace kiln::builder
