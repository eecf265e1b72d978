// Tensors in files: NumPy .npy (read and write), raw .bin (read, with a shape from --shapes and the engine's
// dtype), and the `--input name:file` flag that names them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::cli {

//! Reads a .npy file (format 1.0-3.0, C order, little-endian; dtypes float16/32/64, int8-64, uint8-64, bool).
//! Errors name the file and what is wrong (Fortran order, big-endian, unknown dtype, truncated data).
Result<Tensor> readNpy(const std::string& path);
//! Writes `t` as .npy (format 1.0). bfloat16 has no NumPy dtype: it is written as float32.
Status writeNpy(const std::string& path, const Tensor& t);
//! Reads raw little-endian elements of `dtype` and `shape`; the file size must match exactly.
Result<Tensor> readRaw(const std::string& path, DataType dtype, const Shape& shape);

//! One `--input name:file` flag.
struct InputFile {
    std::string name;
    std::string path;
};
//! Parses "name:file.npy" (the first ':' separates, so paths may contain ':'). Fails for a missing part.
Result<InputFile> parseInputFlag(const std::string& text, const std::string& flag);

//! Loads the given input files for `engine`: .npy as stored (dtype must match the engine's), any other extension
//! as raw data whose shape comes from `shapes` (or the engine's static shape). Fails naming an input the engine
//! does not have, a dtype mismatch, or a raw file without a shape.
Result<std::map<std::string, Tensor>> loadInputFiles(const Engine& engine, const std::vector<InputFile>& files,
                                                     const std::map<std::string, Shape>& shapes);

}  // namespace kiln::cli
