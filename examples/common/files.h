// Files the C++ samples and the `kiln` tool both read or write: tensors in NumPy .npy files (--save-outputs,
// --input name:file.npy), the file names of saved outputs, and label files (--labels). Public API only.
#pragma once

#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::examples {

//! Reads a .npy file (format 1.0-3.0, C order, little-endian; dtypes float16/32/64, int8-64, uint8-64, bool).
//! Errors name the file and what is wrong (Fortran order, big-endian, unknown dtype, truncated data).
Result<Tensor> readNpy(const std::string& path);
//! Writes `t` as .npy (format 1.0, the header NumPy's np.save writes). bfloat16 has no NumPy dtype: it is written
//! as float32.
Status writeNpy(const std::string& path, const Tensor& t);

//! One label per line (a trailing '\r' dropped); kNotFound naming the file when it cannot be read.
Result<std::vector<std::string>> readLabels(const std::string& path);

//! A tensor name made safe for a file name: characters other than letters, digits, '.', '-' and '_' become '_'
//! (output names may hold '/' or ':').
std::string fileSafeName(const std::string& name);

//! Row `row` of a batched tensor (dim 0) as a [1, ...] tensor sharing its memory: valid while `t`'s buffer lives.
Tensor batchRow(const Tensor& t, int64_t row);

}  // namespace kiln::examples
