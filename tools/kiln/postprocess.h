// `kiln infer`'s outputs, by kind:
//   classes   [N, C] (or [N, C, 1, 1]), C >= 2: the top-k classes, with names from a label file; scores are
//             softmax-ed first unless they already are probabilities (in [0, 1], summing to 1).
//   mask      [N, 1, H, W] or [N, H, W] floats: a foreground probability map, written as an 8-bit PNG at the
//             photo's size (values in [0, 1] as they are, others min-max normalized per image, as rembg does);
//             --cutout also writes the photo with the mask as alpha (RGBA PNG).
//   classmap  [N, C, H, W] with 2 <= C <= 32: per-pixel argmax, written as a PNG with one colour per class.
//   tensor    anything else: shape and min / max / mean printed (saved with --save-outputs).
#pragma once

#include <string>
#include <vector>

#include "image.h"
#include "kiln/kiln.h"

namespace kiln::cli {

enum class OutputKind { kClasses, kMask, kClassMap, kTensor };

//! The kind a shape suggests (above); `forced` ("classes", "mask", "classmap", "tensor") overrides it.
Result<OutputKind> outputKindOf(const Shape& shape, DataType dtype, const std::string& forced);
const char* outputKindName(OutputKind kind);

//! Class names, one per line (empty lines kept, so line i is class i).

//! Lines "  1. 0.8123  tabby cat (class 281)" for batch row `row`.
std::string describeTopK(const Tensor& scores, int64_t row, int k, const std::vector<std::string>& labels);

//! One-line summary: "float32[1x64x512x512] min -1.2 max 3.4 mean 0.01".
std::string describeTensor(const Tensor& t);

//! Batch row `row` of a mask output as an 8-bit gray image at width x height (bilinear).
Result<examples::Image> maskImage(const Tensor& mask, int64_t row, int width, int height);
//! Batch row `row` of a class map as a palette PNG at width x height (nearest neighbour).
Result<examples::Image> classMapImage(const Tensor& logits, int64_t row, int width, int height);

}  // namespace kiln::cli
