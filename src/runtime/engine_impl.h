// The CPU implementation of kiln::Engine, shared by the Builder (in-memory engines) and the Runtime (loaded ones).
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/kiln.h"
#include "plan/engine_file.h"

namespace kiln::runtime {

//! min/opt/max (indexed by OptProfileSelector) per input name.
using ProfileShapes = std::map<std::string, std::array<Shape, 3>>;

//! The profiles as build options ("profile.<i>.<input>" → "1,3,224,224;8,3,224,224;32,3,224,224") and back.
void encodeProfiles(const std::vector<ProfileShapes>& profiles, std::map<std::string, std::string>& options);
Result<std::vector<ProfileShapes>> decodeProfiles(const std::map<std::string, std::string>& options);

//! An engine over an optimized graph. `graph` must not be changed afterwards (contexts read it concurrently).
Result<std::unique_ptr<Engine>> makeCpuEngine(std::shared_ptr<const ir::Graph> graph,
                                              std::vector<ProfileShapes> profiles, ILogger& logger);

//! An engine over a loaded engine file (its profiles decoded from the build options).
Result<std::unique_ptr<Engine>> engineFromFile(plan::EngineFile file, ILogger& logger);

//! Logs `msg` at `severity`.
inline void logLine(ILogger& logger, ILogger::Severity severity, const std::string& msg) {
    logger.log(severity, msg.c_str());
}

}  // namespace kiln::runtime
