// CUDA device discovery. The CUDA backend proper arrives with its own issue; this file keeps the CUDA toolchain
// in every build from the first commit.
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::cuda {

struct DeviceInfo {
    int index = 0;
    std::string name;
    int computeMajor = 0;
    int computeMinor = 0;
    size_t totalMemory = 0;
};

//! GPUs visible to this process; an empty list (not an error) when there is no GPU or no driver.
std::vector<DeviceInfo> listDevices();

//! Fills `count` floats on device 0 with `value` and copies them back (a smoke test of the toolchain).
Result<std::vector<float>> fillOnDevice(size_t count, float value);

}  // namespace kiln::cuda
