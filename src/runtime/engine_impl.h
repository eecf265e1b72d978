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

//! An engine over a loaded engine file of any backend this build has (its profiles decoded from the build options;
//! a CUDA engine's device and cuDNN checked against this machine's). `name` (the path, or "<memory>") names it in
//! errors.
Result<std::unique_ptr<Engine>> engineFromFile(plan::EngineFile file, const std::string& name, ILogger& logger);

//! Logs `msg` at `severity`.
inline void logLine(ILogger& logger, ILogger::Severity severity, const std::string& msg) {
    logger.log(severity, msg.c_str());
}

}  // namespace kiln::runtime

namespace kiln::runtime {

//! True when this Kiln was built with its CUDA backend and a CUDA GPU is usable.
bool cudaBackendAvailable() noexcept;
//! Why the CUDA backend cannot be used here (one line), or empty when it can.
std::string cudaUnavailableReason();

//! Metadata of an engine built for `device` on the CUDA backend: device name, compute capability, and the CUDA
//! runtime, cuDNN and cuBLASLt versions (build options "cuda.*").
Result<plan::EngineMetadata> cudaEngineMetadata(int32_t device);

//! A CUDA engine over an optimized graph. Build options give the device, TF32 and workspace; "cuda.arena_bytes"
//! the activation arena measured at build (measured now by a run at the profiles' max shapes when absent).
Result<std::unique_ptr<Engine>> makeCudaEngine(std::shared_ptr<const ir::Graph> graph,
                                               std::vector<ProfileShapes> profiles,
                                               const std::map<std::string, std::string>& buildOptions, ILogger& logger);

//! Tactic timing of a CUDA build (backends/cuda/tactics.h, docs/cuda.md): runs `graph` once at the opt shapes of
//! profile 0 (the static shapes without profiles) on random inputs, timing each cuDNN / cuBLASLt layer's candidates
//! as build option "opt_level" asks (0: none), and writes each choice into its node (attribute kiln_tactic). The
//! timing cache of build option "timing_cache" (when set) answers known layers first and is written back, merged,
//! when the build added to it. A failed timing run is a warning (the layers keep the heuristics' choices); the
//! error is a timing cache that cannot be written. Logs one summary line (layers, problems timed, cache hits, time).
Status tuneCudaGraph(ir::Graph& graph, const std::vector<ProfileShapes>& profiles,
                     const std::map<std::string, std::string>& buildOptions, ILogger& logger);

//! Empty when a CUDA engine's recorded cuDNN has this machine's major.minor; else one line naming both versions.
std::string cudnnMismatch(const plan::EngineMetadata& meta);

//! Checks that a loaded CUDA engine's recorded device matches the GPU it would run on here; the error names
//! both and the command that rebuilds the engine.
Status checkCudaDevice(const plan::EngineMetadata& meta, const std::string& engineName);

}  // namespace kiln::runtime
