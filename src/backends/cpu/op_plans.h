// Plans of the data-movement, indexing, tensor-creation and resize kernels: validation and output shapes computed
// from attributes, the shapes and dtypes of data inputs and the values of shape-like inputs (starts, pads, repeats,
// scales, ...), never from the data of a data input. The CPU reference kernels run them before moving elements, and
// the CUDA kernels run them on data-less views of their device inputs, so both backends accept the same inputs with
// the same messages. Index *values* (Gather's indices, ReverseSequence's lengths) are checked where they are read.
#pragma once

#include <cstdint>
#include <vector>

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

// ---- Movement (kernels/movement.cpp) ----

struct TransposePlan {
    std::vector<int64_t> perm;  //!< Output dim d walks input dim perm[d].
    Shape outShape;
};
Result<TransposePlan> planTranspose(const KernelContext& ctx);

struct ConcatPlan {
    int64_t axis = 0;
    Shape outShape;
};
Result<ConcatPlan> planConcat(const KernelContext& ctx);

struct SplitPlan {
    int64_t axis = 0;
    std::vector<int64_t> sizes;  //!< One per output, summing to the input's dim `axis`.
};
Result<SplitPlan> planSplit(const KernelContext& ctx);

//! Slice: output coordinate i along dim d reads input coordinate begin[d] + i * step[d].
struct SlicePlan {
    std::vector<int64_t> begin;
    std::vector<int64_t> step;
    Shape outShape;
};
Result<SlicePlan> planSlice(const KernelContext& ctx);

Result<Shape> planExpand(const KernelContext& ctx);

//! Tile: output dim d is repeats[d] copies of input dim d.
struct TilePlan {
    std::vector<int64_t> repeats;
    Shape outShape;
};
Result<TilePlan> planTile(const KernelContext& ctx);

enum class PadMode { kConstant, kReflect, kEdge };
struct PadPlan {
    PadMode mode = PadMode::kConstant;
    std::vector<int64_t> padBegin;  //!< Per dim (negative values crop).
    const Tensor* fill = nullptr;   //!< constant_value (one element of the input dtype), or null for zero.
    Shape outShape;
};
Result<PadPlan> planPad(const KernelContext& ctx);
//! The input coordinate that output coordinate `i` of a dim of size `dim` padded by `padBegin` reads, or -1 for the
//! fill value (constant mode). `dim` > 0 unless the mode is constant.
int64_t padSource(PadMode mode, int64_t i, int64_t padBegin, int64_t dim);

//! DepthToSpace / SpaceToDepth: the input viewed as `view`, permuted by `perm`, is the output (of `outShape`).
struct PermuteViewPlan {
    Shape view;
    std::vector<int64_t> perm;
    Shape outShape;
};
Result<PermuteViewPlan> planDepthToSpace(const KernelContext& ctx);
Result<PermuteViewPlan> planSpaceToDepth(const KernelContext& ctx);

struct ReverseSequencePlan {
    int64_t batchAxis = 1;
    int64_t timeAxis = 0;
};
//! Checks everything but the values of sequence_lens (their dtype and count included).
Result<ReverseSequencePlan> planReverseSequence(const KernelContext& ctx);
//! Checks each length is in [0, time].
Status checkSequenceLens(const std::vector<int64_t>& lens, int64_t time);

//! Compress (condition read on the host): the input (flattened without an axis) gathered along `axis`.
struct CompressPlan {
    Shape srcShape;  //!< The input's shape, or [numel] when there is no axis attribute.
    int64_t axis = 0;
    std::vector<int64_t> selected;  //!< Indices kept along `axis`, ascending.
    Shape outShape;
};
Result<CompressPlan> planCompress(const KernelContext& ctx);

// ---- Tensor creation (kernels/tensor.cpp) ----

struct TriluPlan {
    int64_t k = 0;  //!< Clamped to [-rows - 1, cols + 1].
    bool upper = true;
};
Result<TriluPlan> planTrilu(const KernelContext& ctx);

struct ConstantOfShapePlan {
    Shape shape;
    Tensor value;  //!< One element.
};
Result<ConstantOfShapePlan> planConstantOfShape(const KernelContext& ctx);

//! Range: value i is start + i * delta, computed in double for float types and in int64 for integer types.
struct RangePlan {
    DataType type = DataType::kUndefined;
    int64_t count = 0;
    double startF = 0, deltaF = 0;
    int64_t startI = 0, deltaI = 0;
};
Result<RangePlan> planRange(const KernelContext& ctx);

struct EyeLikePlan {
    DataType type = DataType::kUndefined;
    int64_t k = 0;
};
Result<EyeLikePlan> planEyeLike(const KernelContext& ctx);

// ---- Indexing (kernels/gather_scatter.cpp, onehot_unique_cumsum.cpp) ----

struct GatherPlan {
    int64_t axis = 0;
    Shape outShape;
};
Result<GatherPlan> planGather(const KernelContext& ctx);
//! GatherElements; the output has the shape of the indices.
Result<int64_t> planGatherElements(const KernelContext& ctx);

struct GatherNDPlan {
    int64_t batchDims = 0;
    int64_t k = 0;  //!< Length of each index tuple.
    Shape outShape;
};
Result<GatherNDPlan> planGatherND(const KernelContext& ctx);

enum class ScatterReduction { kNone, kAdd, kMul, kMax, kMin };
struct ScatterElementsPlan {
    int64_t axis = 0;
    ScatterReduction reduction = ScatterReduction::kNone;
};
//! ScatterElements and the legacy Scatter (always kNone).
Result<ScatterElementsPlan> planScatterElements(const KernelContext& ctx);
struct ScatterNDPlan {
    int64_t k = 0;
    ScatterReduction reduction = ScatterReduction::kNone;
};
Result<ScatterNDPlan> planScatterND(const KernelContext& ctx);

struct OneHotPlan {
    int64_t depth = 0;
    int64_t axis = 0;
    Shape outShape;
};
Result<OneHotPlan> planOneHot(const KernelContext& ctx);

// ---- Resize and GridSample (kernels/resize.cpp, grid_sample.cpp) ----

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class CoordMode { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn, kTfCropAndResize };
//! kSimple is the rounding of Resize-10 and Upsample (no nearest_mode attribute): floor, or ceil when downsampling.
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct ResizePlan {
    ResizeMode mode = ResizeMode::kNearest;
    CoordMode coord = CoordMode::kHalfPixel;
    NearestMode nearest = NearestMode::kRoundPreferFloor;
    float cubicA = -0.75F;
    bool excludeOutside = false;
    float extrapolation = 0.0F;
    std::vector<float> scales;  //!< Per axis.
    std::vector<float> roi;     //!< 2 * rank: starts, then ends.
    Shape outShape;
    //! Per axis: whether its taps interpolate (else it is copied through by nearest index), and the resized length
    //! the coordinate formulas use (in * scale when scales were given, as the ONNX reference does, else the size).
    std::vector<bool> interpolate;
    std::vector<float> resizedLen;
};
Result<ResizePlan> planResize(const KernelContext& ctx);
Result<ResizePlan> planUpsample(const KernelContext& ctx);

enum class SampleMode { kBilinear, kNearest, kBicubic };
enum class SamplePadding { kZeros, kBorder, kReflection };
struct GridSamplePlan {
    SampleMode mode = SampleMode::kBilinear;
    SamplePadding padding = SamplePadding::kZeros;
    bool alignCorners = false;
    Shape outShape;  //!< (N, C, H_out, W_out)
};
Result<GridSamplePlan> planGridSample(const KernelContext& ctx);

}  // namespace kiln::cpu
