// Input tensors for running an engine from the command line: which shape each input gets (given, static, or the
// profile's opt shape), which profile holds them, and seeded random data for inputs no file was given for.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::cli {

//! The shapes every input runs with and the profile that holds them.
struct InputPlan {
    int32_t profile = 0;
    std::map<std::string, Shape> shapes;
    std::vector<std::string> inputs;   //!< Input names in engine order.
    std::vector<std::string> outputs;  //!< Output names in engine order.
};

//! Chooses each input's shape: `requested` (from --shapes or given tensors) first, then the engine's static shape,
//! then the opt shape of the first profile that holds every requested shape. Fails naming an unknown input (and
//! listing the real ones) or a shape outside every profile (with profile 0's allowed range).
Result<InputPlan> planInputs(const Engine& engine, const std::map<std::string, Shape>& requested);

//! `plan`'s inputs: `given` tensors as they are, the rest random from `seed` (floats uniform in [-1, 1], integers
//! in [0, 10), bools fair coins; each input its own stream, so adding an input does not change the others).
Result<std::map<std::string, Tensor>> makeInputs(const Engine& engine, const InputPlan& plan,
                                                 const std::map<std::string, Tensor>& given, uint64_t seed);

//! A context on `plan.profile` with every input's shape set.
Result<std::unique_ptr<ExecutionContext>> makeContext(const Engine& engine, const InputPlan& plan);

//! The batch size of a run: dim 0 of the first input (1 for a scalar input).
int64_t batchOf(const InputPlan& plan);

}  // namespace kiln::cli
