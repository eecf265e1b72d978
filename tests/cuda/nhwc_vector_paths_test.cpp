// The vectorized channels-last paths through their launchers: pooling_nhwc.cu's pool kernel against pooling.cu's
// general one and data_movement_concat.cu's output-ordered Concat against launchBatchedCopy, byte for byte on the
// same device buffers (so NaN payloads and -0 count), at sizes the op tests do not reach (the UNet's 512 x 512 x 64
// at batch 1), and with misaligned pointers, which must take the general paths. The op-level tests against the CPU
// reference are pooling_nhwc_test.cpp and data_movement_test.cpp.
#include <cuda_runtime.h>

#include <cstring>
#include <limits>
#include <memory>

#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/pooling.h"
#include "backends/cuda/kernels/pooling_window.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"

namespace kiln::testing {
namespace {

using namespace cuda;  // the launchers under test
using Ints = std::vector<int64_t>;

//! A window over (H, W) resolved as the ops resolve it; `out` gets (OH, OW).
PoolWindow windowOf(int64_t h, int64_t w, const Ints& kernel, const Ints& strides, const Ints& pads,
                    const Ints& dilations, int64_t ceil, Shape& out) {
    ir::Attributes attrs;
    attrs.set("kernel_shape", kernel);
    attrs.set("strides", strides);
    if (!pads.empty()) attrs.set("pads", pads);
    if (!dilations.empty()) attrs.set("dilations", dilations);
    attrs.set("ceil_mode", ceil);
    auto win = resolvePoolWindow(attrs, {h, w}, out);
    EXPECT_TRUE(win.isOk()) << win.status().message();
    return win.isOk() ? *win : PoolWindow{};
}

//! x with a few NaN, -0 and +0 among random values (max's tie and NaN rules show in the bytes).
Tensor withSpecialValues(DataType type, const Shape& shape) {
    Tensor x = randomTensor(type, shape, seed(), -4, 4);
    const int64_t n = x.numel();
    const auto put = [&](int64_t i, float v) {
        if (type == DataType::kFloat32) x.data<float>()[i] = v;
        if (type == DataType::kFloat64) x.data<double>()[i] = v;
        if (type == DataType::kFloat16) x.data<Half>()[i] = Half(v);
        if (type == DataType::kBFloat16) x.data<BFloat16>()[i] = BFloat16(v);
    };
    for (int64_t i = 0; i < n; i += 97) put(i, std::numeric_limits<float>::quiet_NaN());
    for (int64_t i = 5; i < n; i += 89) put(i, -0.0F);
    for (int64_t i = 6; i < n; i += 89) put(i, 0.0F);
    return x;
}

struct PoolPathCase {
    Shape shape;  // [N, H, W, C]
    Ints kernel, strides, pads, dilations;
    int64_t ceil;
};

//! Runs the general and the dispatching launcher on the same input; expects the same bytes, and the vectorized
//! kernel to have been the one dispatched when `vectorized`. `offset` shifts every pointer by that many bytes.
void expectPathsAgree(PoolOp op, DataType type, const PoolPathCase& c, size_t offset, bool vectorized) {
    Shape out;
    const PoolWindow w = windowOf(c.shape[1], c.shape[2], c.kernel, c.strides, c.pads, c.dilations, c.ceil, out);
    const Tensor x =
        isFloatingPoint(type) ? withSpecialValues(type, c.shape) : randomTensor(type, c.shape, seed(), -99, 99);
    const size_t outBytes = static_cast<size_t>(c.shape[0] * out[0] * out[1] * c.shape[3]) * dataTypeSize(type);
    DeviceBytes dx(x.byteSize() + offset), dGeneral(outBytes + offset), dFast(outBytes + offset);
    ASSERT_EQ(cudaMemcpy(dx.at(offset), x.raw(), x.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(poolChannelsLastVectorized(op, type, dx.at(offset), dFast.at(offset), c.shape[3], w), vectorized);
    ASSERT_EQ(
        launchPoolChannelsLastGeneric(op, type, dx.at(offset), dGeneral.at(offset), c.shape[0], c.shape[3], w, nullptr),
        cudaSuccess);
    ASSERT_EQ(launchPoolChannelsLast(op, type, dx.at(offset), dFast.at(offset), c.shape[0], c.shape[3], w, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<char> general = download(dGeneral.at(offset), outBytes);
    const std::vector<char> fast = download(dFast.at(offset), outBytes);
    ASSERT_EQ(general.size(), fast.size());
    if (general == fast) return;
    size_t i = 0;
    while (general[i] == fast[i]) ++i;
    FAIL() << "first differing byte " << i << " of " << general.size();
}

TEST(CudaNhwcVectorPaths, PoolDispatchRule) {
    // Host logic only: which problems the vectorized pool kernel takes.
    Shape out;
    const PoolWindow w = windowOf(8, 8, {2, 2}, {2, 2}, {}, {}, 0, out);
    const auto* aligned = reinterpret_cast<const void*>(uintptr_t{256});
    const auto* misaligned = reinterpret_cast<const void*>(uintptr_t{258});
    EXPECT_TRUE(poolChannelsLastVectorized(PoolOp::kMax, DataType::kFloat16, aligned, aligned, 64, w));
    EXPECT_TRUE(poolChannelsLastVectorized(PoolOp::kAverage, DataType::kFloat32, aligned, aligned, 4, w));
    EXPECT_TRUE(poolChannelsLastVectorized(PoolOp::kAverageIncludePad, DataType::kBFloat16, aligned, aligned, 8, w));
    EXPECT_TRUE(poolChannelsLastVectorized(PoolOp::kMax, DataType::kInt8, aligned, aligned, 16, w));
    EXPECT_FALSE(poolChannelsLastVectorized(PoolOp::kMax, DataType::kInt8, aligned, aligned, 8, w));  // 8 bytes
    EXPECT_FALSE(poolChannelsLastVectorized(PoolOp::kAverage, DataType::kInt8, aligned, aligned, 16, w));
    EXPECT_FALSE(poolChannelsLastVectorized(PoolOp::kLp, DataType::kFloat32, aligned, aligned, 64, w));
    EXPECT_FALSE(poolChannelsLastVectorized(PoolOp::kMax, DataType::kFloat16, aligned, aligned, 3, w));
    EXPECT_FALSE(poolChannelsLastVectorized(PoolOp::kMax, DataType::kFloat32, aligned, aligned, 7, w));
    EXPECT_FALSE(poolChannelsLastVectorized(PoolOp::kMax, DataType::kFloat16, misaligned, aligned, 64, w));
    EXPECT_FALSE(poolChannelsLastVectorized(PoolOp::kMax, DataType::kFloat16, aligned, misaligned, 64, w));
    EXPECT_FALSE(poolChannelsLastVectorized(PoolOp::kMax, DataType::kFloat16, aligned, aligned, 0, w));
}

TEST(CudaNhwcVectorPaths, PoolKernelsAgreeByteForByte) {
    KILN_REQUIRE_GPU();
    // The UNet's first pool at batch 1 (32 MiB of float16), in the dtype it runs in.
    const PoolPathCase unet{{1, 512, 512, 64}, {2, 2}, {2, 2}, {}, {}, 0};
    for (PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) expectPathsAgree(op, DataType::kFloat16, unet, 0, true);
    const PoolPathCase cases[] = {
        {{2, 113, 111, 64}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 0},    // ResNet's stem pool over prime sizes
        {{3, 23, 29, 24}, {3, 2}, {2, 1}, {2, 0, 1, 1}, {2, 3}, 1},  // dilations, ceil_mode, asymmetric pads
        {{2, 6, 5, 32}, {2, 3}, {1, 1}, {3, 3, 3, 3}, {}, 1},        // windows wholly in the padding
        {{0, 9, 9, 64}, {2, 2}, {2, 2}, {}, {}, 0},                  // empty batch
    };
    for (const PoolPathCase& c : cases) {
        for (DataType t : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat32, DataType::kFloat64,
                           DataType::kInt8, DataType::kUInt8}) {
            for (PoolOp op : {PoolOp::kMax, PoolOp::kAverage, PoolOp::kAverageIncludePad}) {
                if (op != PoolOp::kMax && !isFloatingPoint(t)) continue;
                SCOPED_TRACE(std::string(dataTypeName(t)) + " " + shapeToString(c.shape) + " op " +
                             std::to_string(static_cast<int>(op)));
                const bool whole = c.shape[3] * static_cast<int64_t>(dataTypeSize(t)) % 16 == 0;
                expectPathsAgree(op, t, c, 0, whole);
            }
        }
    }
}

TEST(CudaNhwcVectorPaths, MisalignedPoolsTakeTheGeneralKernel) {
    KILN_REQUIRE_GPU();
    // Pointers 2 bytes past an allocation (a view into a bigger buffer): the vectorized kernel would fault there.
    const PoolPathCase c{{2, 9, 7, 64}, {2, 2}, {2, 2}, {}, {}, 0};
    for (PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) expectPathsAgree(op, DataType::kFloat16, c, 2, false);
}

//! Concatenates `rowElems[k]`-element rows of float16 inputs along the rows with launchConcat (from device
//! pointers shifted by `offset` bytes) and expects the host concatenation, and the output-ordered kernel to have
//! been dispatched when `vectorized`.
void expectConcatRows(int64_t rows, const Ints& rowElems, size_t offset, bool vectorized) {
    SCOPED_TRACE("rows " + std::to_string(rows) + " widths " + shapeToString(rowElems) + " offset " +
                 std::to_string(offset));
    constexpr size_t kElem = 2;
    int64_t outRow = 0;
    for (int64_t n : rowElems) outRow += n;
    std::vector<Tensor> hosts;
    std::vector<std::unique_ptr<DeviceBytes>> devices;
    std::vector<ConcatInput> inputs;
    for (int64_t n : rowElems) {
        hosts.push_back(randomTensor(DataType::kFloat16, {rows, n}, seed()));
        devices.push_back(std::make_unique<DeviceBytes>(hosts.back().byteSize() + offset));
        ASSERT_EQ(
            cudaMemcpy(devices.back()->at(offset), hosts.back().raw(), hosts.back().byteSize(), cudaMemcpyHostToDevice),
            cudaSuccess);
        inputs.push_back(ConcatInput{devices.back()->at(offset), n});
    }
    const size_t outBytes = static_cast<size_t>(rows * outRow) * kElem;
    DeviceBytes dy(outBytes + offset);
    EXPECT_EQ(concatVectorized(inputs, dy.at(offset), kElem), vectorized);
    ASSERT_EQ(launchConcat(inputs, dy.at(offset), rows, kElem, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<char> got = download(dy.at(offset), outBytes);
    std::vector<char> want(outBytes);
    for (int64_t r = 0; r < rows; ++r) {
        int64_t column = 0;
        for (size_t k = 0; k < rowElems.size(); ++k) {
            const auto* src = static_cast<const char*>(hosts[k].raw()) + static_cast<size_t>(r * rowElems[k]) * kElem;
            std::memcpy(want.data() + static_cast<size_t>(r * outRow + column) * kElem, src,
                        static_cast<size_t>(rowElems[k]) * kElem);
            column += rowElems[k];
        }
    }
    ASSERT_EQ(got, want);
}

TEST(CudaNhwcVectorPaths, ConcatRows) {
    KILN_REQUIRE_GPU();
    expectConcatRows(4099, {64, 64}, 0, true);       // the UNet's skip concatenation, 128-byte runs
    expectConcatRows(17, {8, 0, 120, 16}, 0, true);  // unequal runs and an empty input
    expectConcatRows(1, {1000, 8}, 0, true);         // one row (axis 0): two contiguous blocks
    expectConcatRows(33, {64, 64}, 2, false);        // misaligned views: launchBatchedCopy
    expectConcatRows(31, {3, 64}, 0, false);         // a 6-byte run: launchBatchedCopy
    expectConcatRows(0, {64, 64}, 0, true);          // no rows: nothing to launch
    Ints many(40, 8);                                // more inputs than one launch takes
    expectConcatRows(5, many, 0, false);
}

}  // namespace
}  // namespace kiln::testing
