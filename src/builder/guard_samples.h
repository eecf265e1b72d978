// What the accuracy guard runs and measures: the calibration samples (given and checked, or random), running an
// engine on them, and the relative error of one tensor against the FP32 reference's.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::builder {

using Sample = std::map<std::string, Tensor>;

//! Checks `samples` against `engine`'s inputs: every input given, no other name, the input's dtype. Fails naming the
//! sample index and the input (shapes are checked by the run, which names the input too).
Status checkSamples(const Engine& engine, const std::vector<Sample>& samples);

//! One sample of random inputs at profile 0's opt shapes (the static shapes where there are no profiles), from a
//! fixed seed: floats uniform in [-1, 1], integers 0, bools false. Fails naming an input whose shape is dynamic
//! without a profile.
Result<Sample> randomSample(const Engine& engine);

//! `engine`'s outputs on each sample, in one context. `what` names the engine in errors ("the FP32 engine").
Result<std::vector<Sample>> runSamples(const Engine& engine, const std::vector<Sample>& samples,
                                       const std::string& what);

//! max|got - ref| / max|ref| over the elements of two float tensors (the absolute difference when `ref` is all
//! zeros); infinity when the shapes differ or `got` has a NaN or Inf where `ref` does not have the same value. 0 for
//! tensors that are not floating point (the guard judges float data only).
double relativeError(const Tensor& got, const Tensor& ref);

}  // namespace kiln::builder
