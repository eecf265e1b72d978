// `kiln exec`: trtexec's command line on Kiln. cmd_exec.cpp maps the flags (exec_flags.cpp holds the table of
// trtexec's flags and what each becomes); exec_run.cpp builds or loads, benchmarks and exports.
#pragma once

#include <string>
#include <vector>

#include "bench.h"
#include "build_flags.h"

namespace kiln::cli {

struct ExecArgs {
    std::string onnx;
    std::string saveEngine;
    std::string loadEngine;
    BuildFlags build;
    BenchOptions bench;
    std::string percentiles = "90,95,99";
    std::vector<std::string> loadInputs;  //!< "name:file" each.
    std::string exportTimes;
    std::string exportProfile;
    std::string exportLayerInfo;
    std::string exportOutput;
    bool dumpProfile = false;
    bool dumpLayerInfo = false;
    bool dumpOutput = false;
    bool skipInference = false;
    std::string commandLine;  //!< As given, for the "&&&& RUNNING" / "&&&& PASSED" lines.
};

//! What a trtexec flag becomes in Kiln.
enum class TrtFlagKind {
    kMapped,       //!< Has a meaning here (ExecArgs field).
    kNoEffect,     //!< Accepted with a warning: only matters on backends or features Kiln does not have.
    kUnsupported,  //!< An error: the feature is missing and ignoring it would change the result.
};

struct TrtFlag {
    const char* name;  //!< Without the leading dashes.
    TrtFlagKind kind;
    const char* note;  //!< Kiln's equivalent (kMapped), or why not (others).
};

//! trtexec's flags as Kiln knows them.
const std::vector<TrtFlag>& trtexecFlags();

//! Applies one "--name[=value]" to `args`; a usage error names the flag (and the closest known one for typos).
Status applyTrtexecFlag(const std::string& arg, ExecArgs& args);

//! Checks what single flags cannot: --layerPrecisions without --precisionConstraints=obey|prefer is refused.
Status checkTrtexecArgs(const ExecArgs& args);

//! Runs the mapped command; returns the exit code.
int runExec(ExecArgs& args);

}  // namespace kiln::cli
