// CUDA smoke test: skipped (and says so) on machines without a GPU.
#include <gtest/gtest.h>

#include "backends/cuda/device.h"

TEST(CudaDevice, FillRoundTrip) {
    if (kiln::cuda::listDevices().empty()) GTEST_SKIP() << "no CUDA GPU on this machine: GPU test skipped";
    auto out = kiln::cuda::fillOnDevice(1000, 3.5f);
    ASSERT_TRUE(out.isOk()) << out.status().message();
    for (float v : *out) ASSERT_EQ(v, 3.5f);
}
