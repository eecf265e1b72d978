// Parsing of the values users type: shapes ("input:1x3x224x224,mask:1x1"), optimization profiles
// ("x:1x3x32x32/1x3x224x224/8x3x512x512"), layer precisions ("*Softmax*:fp32") and byte sizes ("1GiB", "512MiB").
// Errors say which flag and which part.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cli {

//! "a,b,c" → {"a", "b", "c"} ("" → {""}): the comma-separated lists of the flags.
std::vector<std::string> splitList(const std::string& text, char separator = ',');

//! "1x3x224x224" → {1, 3, 224, 224}; "scalar" or "" → {} (rank 0). Dims are non-negative integers.
Result<Shape> parseDims(const std::string& text, const std::string& flag);

//! "name:1x3x224x224,other:2x16" in the order given. A name may itself contain ':' (the last one separates it);
//! a name may be quoted with single quotes ('a,b':1x2). Each name at most once.
Result<std::vector<std::pair<std::string, Shape>>> parseShapeList(const std::string& text, const std::string& flag);

//! parseShapeList as a map (empty for empty text): the shapes a run asks for.
Result<std::map<std::string, Shape>> parseShapeMap(const std::string& text, const std::string& flag);

//! min/opt/max shapes of one input.
using ShapeRange = std::array<Shape, 3>;
//! A profile: "name:MIN/OPT/MAX,name2:SHAPE" (one shape means min = opt = max).
Result<std::vector<std::pair<std::string, ShapeRange>>> parseProfile(const std::string& text, const std::string& flag);

//! "*Softmax*:fp32,conv1:fp16,op:Resize:fp32" (trtexec's --layerPrecisions) in the order given: node names or
//! patterns (split at the last ':'; quote a name holding a comma: 'a,b':fp32) and fp32, fp16 or bf16.
Result<std::vector<std::pair<std::string, DataType>>> parseLayerPrecisions(const std::string& text,
                                                                           const std::string& flag);

//! "1GiB", "512MiB", "64KiB", "1.5G" (K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024; KB/MB/GB/TB of 1000;
//! "B" bytes). A number without a unit is multiplied by `plainUnit` (bytes for --workspace; trtexec's
//! --memPoolSize means MiB).
Result<size_t> parseByteSize(const std::string& text, const std::string& flag, size_t plainUnit = 1);

//! "1.50 GiB", "512 MiB", "17 B".
std::string formatBytes(size_t bytes);

}  // namespace kiln::cli
