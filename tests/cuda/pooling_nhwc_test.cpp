// CUDA MaxPoolNhwc, AveragePoolNhwc and GlobalAveragePoolNhwc (channels-last, made by the nhwc-layout pass)
// against the CPU reference: windows with strides, pads, dilations, ceil_mode and auto_pad over odd channel counts;
// the global average with one block per image and with the positions split over many (few channels, large maps);
// empty tensors and errors. The sliding pools run twice over: kCases' channel counts take the general kernel,
// kVectorCases' (16-byte multiples) the vectorized one; both are held to the reference exactly.
#include <cmath>
#include <limits>
#include <optional>
#include <span>

#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

struct Window {
    Ints kernel, strides, pads, dilations;  // pads/dilations empty: attribute absent
    int64_t ceil = 0;
    std::string autoPad;
};

OpTester nhwcPool(const char* op, Tensor x, const Window& w) {
    OpTester t(op, 1, "kiln");
    t.input(std::move(x)).attr("kernel_shape", w.kernel).attr("strides", w.strides).attr("ceil_mode", w.ceil);
    if (!w.pads.empty()) t.attr("pads", w.pads);
    if (!w.dilations.empty()) t.attr("dilations", w.dilations);
    if (!w.autoPad.empty()) t.attr("auto_pad", w.autoPad);
    return t;
}

struct PoolCase {
    Shape shape;  // [N, H, W, C]
    Window window;
};

const PoolCase kCases[] = {
    {{2, 11, 13, 3}, {{2, 2}, {2, 2}, {}, {}, 0, ""}},                // tails that do not fill a window
    {{5, 9, 9, 7}, {{3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 0, ""}},        // ResNet's stem pool, batch 5
    {{1, 10, 9, 33}, {{3, 2}, {2, 3}, {0, 1, 2, 0}, {2, 1}, 1, ""}},  // asymmetric pads, dilations, ceil_mode
    {{1, 8, 8, 64}, {{3, 3}, {2, 2}, {}, {}, 0, "SAME_UPPER"}},       // auto_pad
    {{0, 4, 4, 3}, {{2, 2}, {2, 2}, {}, {}, 0, ""}},                  // empty batch
};

//! Channels that fill whole 16-byte vectors in every float type (so pooling_nhwc.cu's kernel runs; int8/uint8 take it
//! from 16 channels on), with the windows of real models and the attribute corners.
const PoolCase kVectorCases[] = {
    {{2, 16, 16, 64}, {{2, 2}, {2, 2}, {}, {}, 0, ""}},                // the UNet's pools, batch 2
    {{3, 13, 11, 128}, {{3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 0, ""}},     // ResNet's stem pool, prime H/W, batch 3
    {{1, 17, 19, 64}, {{3, 3}, {2, 2}, {}, {}, 1, ""}},                // ceil_mode: the last windows cut short
    {{2, 11, 13, 32}, {{3, 2}, {1, 2}, {1, 0, 2, 1}, {2, 2}, 1, ""}},  // dilations, asymmetric pads, ceil_mode
    {{1, 7, 7, 16}, {{7, 7}, {1, 1}, {}, {}, 0, "SAME_LOWER"}},        // auto_pad, window as big as the map
    {{2, 31, 29, 8}, {{2, 2}, {2, 2}, {}, {}, 0, ""}},                 // one float16 vector per position
    {{1, 5, 4, 64}, {{2, 2}, {1, 1}, {2, 2, 2, 2}, {}, 0, ""}},        // corner windows wholly in the padding
    {{0, 8, 8, 64}, {{2, 2}, {2, 2}, {}, {}, 0, ""}},                  // empty batch
};

const Tolerance kExact{0, 0};

//! MaxPoolNhwc over `cases` in every dtype it takes; `tol` as expectCudaMatchesCpu's (null: the dtype's default).
void expectMaxPools(std::span<const PoolCase> cases, std::optional<Tolerance> tol) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64, DataType::kInt8,
                       DataType::kUInt8}) {
        for (const PoolCase& c : cases) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + shapeToString(c.shape));
            expectCudaMatchesCpu(nhwcPool("MaxPoolNhwc", randomTensor(t, c.shape, seed(), -9, 9), c.window), tol);
        }
    }
}

//! AveragePoolNhwc over `cases` in `types`, with and without count_include_pad.
void expectAveragePools(std::span<const PoolCase> cases, std::initializer_list<DataType> types,
                        std::optional<Tolerance> tol) {
    for (DataType t : types) {
        for (const PoolCase& c : cases) {
            for (int64_t includePad : {0, 1}) {
                SCOPED_TRACE(std::string(dataTypeName(t)) + " " + shapeToString(c.shape) + " count_include_pad " +
                             std::to_string(includePad));
                OpTester op = nhwcPool("AveragePoolNhwc", randomTensor(t, c.shape, seed()), c.window);
                expectCudaMatchesCpu(op.attr("count_include_pad", includePad), tol);
            }
        }
    }
}

TEST(CudaPoolNhwc, MaxPoolVectorized) {
    KILN_REQUIRE_GPU();
    expectMaxPools(kVectorCases, kExact);
}

TEST(CudaPoolNhwc, AveragePoolVectorized) {
    KILN_REQUIRE_GPU();
    // Same taps in the same order with the same accumulator as the reference: equal to the last bit.
    expectAveragePools(kVectorCases, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64},
                       kExact);
}

TEST(CudaPoolNhwc, MaxPoolSpecialValuesAsTheReference) {
    KILN_REQUIRE_GPU();
    // NaN as a window's first tap wins; a later NaN never does; infinities compare as values. 16 channels, so the
    // float32 vectorized kernel and the float16 one both see every pattern.
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const float patterns[][4] = {{nan, 1, 2, 3},        {1, nan, 2, 3},   {-inf, nan, -inf, -inf},
                                 {-0.0F, 0.0F, -1, -2}, {inf, nan, 5, 1}, {nan, nan, nan, nan}};
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
        Tensor x(t, {1, 2, 2 * 6, 16});  // six 2x2 windows along W, one pattern each
        for (int64_t w = 0; w < 6; ++w) {
            for (int64_t tap = 0; tap < 4; ++tap) {
                const int64_t h = tap / 2, col = 2 * w + tap % 2;
                for (int64_t c = 0; c < 16; ++c) {
                    // Channel c starts the pattern at tap (c % 4), so each tap order is seen somewhere.
                    const float v = patterns[w][(tap + c) % 4];
                    const int64_t i = (h * 12 + col) * 16 + c;
                    if (t == DataType::kFloat32) x.data<float>()[i] = v;
                    if (t == DataType::kFloat16) x.data<Half>()[i] = Half(v);
                    if (t == DataType::kBFloat16) x.data<BFloat16>()[i] = BFloat16(v);
                }
            }
        }
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(nhwcPool("MaxPoolNhwc", std::move(x), {{2, 2}, {2, 2}, {}, {}, 0, ""}), kExact);
    }
}

TEST(CudaPoolNhwc, MaxPool) {
    KILN_REQUIRE_GPU();
    expectMaxPools(kCases, std::nullopt);
}

TEST(CudaPoolNhwc, AveragePool) {
    KILN_REQUIRE_GPU();
    expectAveragePools(kCases, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}, std::nullopt);
}

TEST(CudaPoolNhwc, GlobalAveragePool) {
    KILN_REQUIRE_GPU();
    const Shape shapes[] = {
        {5, 7, 7, 2048},    // ResNet-50's head: one block per 32 channels
        {1, 160, 160, 96},  // PP-OCR's squeeze-excite: positions split over blocks, partial sums in workspace
        {3, 5, 6, 7},      {2, 1, 1, 33}, {1, 31, 29, 3}, {0, 4, 4, 3}, {2, 0, 3, 5},
    };
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
        for (const Shape& s : shapes) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + shapeToString(s));
            OpTester op("GlobalAveragePoolNhwc", 1, "kiln");
            expectCudaMatchesCpu(op.input(randomTensor(t, s, seed())));
        }
    }
}

TEST(CudaPoolNhwc, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const Window w{{2, 2}, {2, 2}, {}, {}, 0, ""};
    expectCudaMatchesCpu(nhwcPool("MaxPoolNhwc", randomTensor(DataType::kFloat32, {1, 4, 4}, seed()), w));
    expectCudaMatchesCpu(nhwcPool("AveragePoolNhwc", randomTensor(DataType::kFloat32, {1, 4, 4, 2, 2}, seed()), w));
    expectCudaMatchesCpu(nhwcPool("AveragePoolNhwc", randomTensor(DataType::kInt32, {1, 4, 4, 2}, seed()), w));
    expectCudaMatchesCpu(nhwcPool("MaxPoolNhwc", randomTensor(DataType::kFloat32, {1, 4, 4, 2}, seed()), w)
                             .attr("kernel_shape", Ints{2, 2, 2}));
    OpTester gap("GlobalAveragePoolNhwc", 1, "kiln");
    expectCudaMatchesCpu(gap.input(randomTensor(DataType::kFloat32, {2, 3}, seed())));
}

}  // namespace
}  // namespace kiln::testing
