// The build flags shared by `kiln build`, `kiln bench`/`compare` given an .onnx, and `kiln exec`: precision,
// shapes and profiles, workspace, timing cache, optimization level, backend and device; and turning them into a
// BuilderConfig.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "shapes.h"

namespace kiln::cli {

struct BuildFlags {
    bool fp16 = false;
    bool bf16 = false;
    bool int8 = false;
    bool tf32 = false;
    bool noTf32 = false;
    std::string shapes;  //!< "x:1x3x224x224,...": min = opt = max (and the shapes bench runs with).
    std::string minShapes;
    std::string optShapes;
    std::string maxShapes;
    std::vector<std::string> profiles;  //!< Further profiles, "x:MIN/OPT/MAX,...", one per --profile.
    std::string workspace;              //!< "1GiB"; empty: no limit.
    size_t workspacePlainUnit = 1;      //!< What a number without unit means (bytes; MiB for trtexec).
    std::string timingCache;
    int optLevel = 3;
    std::string backend = "auto";
    int device = 0;
    std::string layerPrecisions;                //!< "*Softmax*:fp32,conv1:fp16": BuilderConfig::setLayerPrecision.
    std::string precisionConstraints = "obey";  //!< "obey" or "prefer" ("none" only from trtexec's command line).
    bool emulatePrecision = false;              //!< --emulate-precision: kEMULATE_REDUCED_PRECISION.
    std::string accuracy;                       //!< --accuracy RTOL: BuilderConfig::setAccuracyTarget ("" off).
    bool accuracyStrict = false;                //!< --accuracy-strict: a missed target fails the build.
    std::vector<std::string> calibInputs;       //!< One sample per --calib-inputs, "name:file.npy[,name:file]".

    //! The precisions these flags allow (the BuilderConfig flags).
    std::set<BuilderFlag> precisionFlags() const;
};

//! Adds the build flags to `cmd`. `forRun`: the command also runs the engine (bench, infer, compare), so --shapes
//! is the run's shapes too.
void addBuildFlags(CLI::App& cmd, BuildFlags& flags, bool forRun = true);

//! The profiles the flags describe: profile 0 from --min-shapes/--opt-shapes/--max-shapes (an input with only
//! --opt-shapes has min = max = opt) and --shapes for the inputs those do not give (min = opt = max), then one per
//! --profile. Errors name the flag and the input.
Result<std::vector<std::map<std::string, ShapeRange>>> profilesFromFlags(const BuildFlags& flags);

//! Parses every flag value (shapes, profiles, workspace) without building anything: a failure is a command-line
//! mistake (exit code 2), found before any slow work.
Status checkBuildFlagSyntax(const BuildFlags& flags);

//! A BuilderConfig for the flags. Syntax errors (shapes, units) are kInvalidArgument naming the flag.
Result<std::unique_ptr<BuilderConfig>> makeConfig(Builder& builder, const BuildFlags& flags);

//! "fp32", "fp32+fp16", ...: the precisions a set of flags allows.
std::string precisionText(const std::set<BuilderFlag>& flags);

//! Adds kFP16 / kBF16 to `flags` for layers pinned to them: the precisions an engine may compute in (for
//! comparison tolerances and what the summaries say is allowed).
void addPinnedPrecisions(const std::vector<std::pair<std::string, DataType>>& pins, std::set<BuilderFlag>& flags);

//! An engine to run: loaded from an engine file, or built in memory from an ONNX model (bench, compare).
struct EngineSource {
    std::unique_ptr<Engine> engine;
    std::string path;                 //!< As given.
    bool fromOnnx = false;            //!< Built in memory from `path`.
    std::string backend = "cpu";      //!< The backend it runs on.
    std::set<BuilderFlag> precision;  //!< Precisions the build allowed (pinned layers' included).
    int32_t marked = 0;               //!< Intermediate tensors marked as outputs (loadOrBuildEngine's `mark`).
    double buildSeconds = 0;          //!< Time to build (ONNX) or load (engine file).
};

//! True when `path` starts with an engine file's magic ("KILNENG"); false for anything else (taken as ONNX).
bool isEngineFile(const std::string& path);

//! Loads an engine file, or parses and builds an ONNX model with `flags`. Progress and what happened are printed
//! on stdout ("built model.onnx in memory in 1.2 s") unless `quiet`. `mark` ("all", or "name1,name2") marks
//! tensors of the model as extra outputs before the build (kiln compare --mark); an engine file cannot be marked
//! (kInvalidArgument).
Result<EngineSource> loadOrBuildEngine(const std::string& path, const BuildFlags& flags, bool quiet = false,
                                       const std::string& mark = "");

}  // namespace kiln::cli
