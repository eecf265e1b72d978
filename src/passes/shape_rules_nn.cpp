// Shape rules of the nn ops: MatMul/Gemm, convolution and pooling, reductions, normalization, TopK, Resize and
// the depth/space rearrangements. Convolution and pooling windows are resolved by the CPU kernels' own geometry
// (backends/cpu/nn_common.h) on data-less views, so the rules and the kernels cannot disagree on pads, auto_pad,
// dilations or ceil_mode; the batch dim, which the window never reads, may be symbolic.
#include <algorithm>
#include <numeric>

#include "backends/cpu/nn_common.h"
#include "passes/shape_rules.h"

namespace kiln::passes::shapes {

using ir::Dim;
using ir::OpKind;
using Dims = std::vector<Dim>;

namespace {

std::vector<Facts> same(const ir::Node&, const Inputs& in) { return oneOutput(in.shape(0)); }

//! Every dim static: the static shape.
std::optional<Shape> staticDims(const Dims& d, size_t begin = 0) {
    Shape s;
    for (size_t i = begin; i < d.size(); ++i) {
        if (!d[i].isStatic()) return std::nullopt;
        s.push_back(d[i].size);
    }
    return s;
}

// ---- products

//! numpy matmul: 1-D operands gain and then lose a unit dim; the batch dims broadcast.
ir::SymbolicShape matmulShape(const ir::SymbolicShape& a, const ir::SymbolicShape& b) {
    if (!a || !b || a->empty() || b->empty()) return std::nullopt;
    Dims x = *a, y = *b;
    const bool aVector = x.size() == 1, bVector = y.size() == 1;
    if (aVector) x.insert(x.begin(), Dim::known(1));
    if (bVector) y.push_back(Dim::known(1));
    const ir::SymbolicShape xb = Dims(x.begin(), x.end() - 2), yb = Dims(y.begin(), y.end() - 2);
    Dims out = *broadcastShapes({&xb, &yb});
    if (!aVector) out.push_back(x[x.size() - 2]);
    if (!bVector) out.push_back(y.back());
    return out;
}

template <size_t A, size_t B>
std::vector<Facts> matmul(const ir::Node&, const Inputs& in) {
    return oneOutput(matmulShape(in.shape(A), in.shape(B)));
}

std::vector<Facts> gemm(const ir::Node& node, const Inputs& in) {
    Dims out = unknownDims(2);
    if (in.rank(0) == 2) out[0] = (*in.shape(0))[node.attrs().getInt("transA", 0) != 0 ? 1 : 0];
    if (in.rank(1) == 2) out[1] = (*in.shape(1))[node.attrs().getInt("transB", 0) != 0 ? 0 : 1];
    return oneOutput(std::move(out));
}

// ---- windows

//! [N, C, spatial...] with N from x, C given, and the spatial dims from `resolve` when x's [1:] are static.
template <typename Resolve>
std::vector<Facts> windowed(const Inputs& in, size_t x, const Dim& channels, Resolve resolve) {
    const int64_t rank = in.rank(x);
    if (rank < 3) return noFacts();
    const Dims& d = *in.shape(x);
    Dims out = unknownDims(d.size());
    out[0] = d[0];
    out[1] = channels;
    if (auto s = staticDims(d, 1); s && rank - 2 <= cpu::nn::kMaxSpatial) {
        s->insert(s->begin(), 1);  // the window never reads the batch
        if (std::optional<Shape> spatial = resolve(*s)) {
            for (size_t i = 0; i < spatial->size(); ++i) out[2 + i] = Dim::known((*spatial)[i]);
        }
    }
    return oneOutput(std::move(out));
}

//! The spatial output dims of a convolution geometry (convGeometry, convTransposeGeometry) over data-less views.
template <typename Geometry>
std::optional<Shape> spatialOf(Geometry geometry, const ir::Node& node, const Shape& x, const std::optional<Shape>& w) {
    if (!w) return std::nullopt;
    auto geo = geometry(node.attrs(), Tensor::wrap(DataType::kFloat32, x, nullptr),
                        Tensor::wrap(DataType::kFloat32, *w, nullptr));
    if (!geo) return std::nullopt;
    return Shape(geo->outShape.begin() + 2, geo->outShape.end());
}

//! Conv, ConvInteger (x = 0, w = 1) and QLinearConv (x = 0, w = 3).
template <size_t X, size_t W>
std::vector<Facts> conv(const ir::Node& node, const Inputs& in) {
    const bool wKnown = in.rank(W) >= 1;
    const Dim channels = wKnown ? (*in.shape(W))[0] : unknownDim();
    const std::optional<Shape> w = wKnown ? staticDims(*in.shape(W)) : std::nullopt;
    return windowed(in, X, channels, [&](const Shape& x) { return spatialOf(cpu::nn::convGeometry, node, x, w); });
}

std::vector<Facts> convTranspose(const ir::Node& node, const Inputs& in) {
    const std::optional<Shape> w = in.shape(1) ? staticDims(*in.shape(1)) : std::nullopt;
    Dim channels = unknownDim();
    if (w && w->size() >= 2) channels = Dim::known((*w)[1] * node.attrs().getInt("group", 1));
    return windowed(in, 0, channels,
                    [&](const Shape& x) { return spatialOf(cpu::nn::convTransposeGeometry, node, x, w); });
}

//! MaxPool (and its Indices output), AveragePool, LpPool.
std::vector<Facts> pool(const ir::Node& node, const Inputs& in) {
    const Dim channels = in.rank(0) >= 2 ? (*in.shape(0))[1] : unknownDim();
    auto out = windowed(in, 0, channels, [&](const Shape& x) -> std::optional<Shape> {
        const Shape spatial(x.begin() + 2, x.end());
        auto kernel = cpu::nn::kernelShapeAttr(node.attrs(), spatial.size());
        if (!kernel) return std::nullopt;
        auto win = cpu::nn::resolveWindow(node.attrs(), spatial, *kernel, node.attrs().getInt("ceil_mode", 0) != 0);
        if (!win) return std::nullopt;
        return win->outShape();
    });
    if (!out.empty()) out.resize(node.outputs().size(), out.front());
    return out;
}

std::vector<Facts> globalPool(const ir::Node&, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 3) return noFacts();
    Dims out(static_cast<size_t>(rank), Dim::known(1));
    out[0] = (*in.shape(0))[0];
    out[1] = (*in.shape(0))[1];
    return oneOutput(std::move(out));
}

// ---- reductions and normalization

//! Reduce*: axes from input 1 when present (ReduceSum-13, every Reduce-18), else the attribute; as the CPU kernel's
//! reduceAxes reads them.
std::vector<Facts> reduce(const ir::Node& node, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return noFacts();
    const bool keep = node.attrs().getInt("keepdims", 1) != 0;
    std::optional<std::vector<int64_t>> axes = node.attrs().getInts("axes").value_or(std::vector<int64_t>{});
    if (in.has(1)) axes = in.ints(1);
    if (!axes) return keep ? oneOutput(unknownDims(static_cast<size_t>(rank))) : noFacts();
    if (axes->empty()) {
        if (node.attrs().getInt("noop_with_empty_axes", 0) != 0) return oneOutput(in.shape(0));
        axes->resize(static_cast<size_t>(rank));
        std::iota(axes->begin(), axes->end(), 0);
    }
    std::vector<bool> reduced(static_cast<size_t>(rank), false);
    for (int64_t a : *axes) {
        const auto n = normalizeAxis(a, rank);
        if (!n || reduced[static_cast<size_t>(*n)]) return noFacts();
        reduced[static_cast<size_t>(*n)] = true;
    }
    Dims out;
    for (size_t i = 0; i < reduced.size(); ++i) {
        if (!reduced[i]) out.push_back((*in.shape(0))[i]);
        else if (keep) out.push_back(Dim::known(1));
    }
    return oneOutput(std::move(out));
}

std::vector<Facts> argReduce(const ir::Node& node, const Inputs& in) {
    const int64_t rank = in.rank(0);
    const auto axis = normalizeAxis(node.attrs().getInt("axis", 0), rank);
    if (rank < 0 || !axis) return noFacts();
    Dims out = *in.shape(0);
    if (node.attrs().getInt("keepdims", 1) != 0) out[static_cast<size_t>(*axis)] = Dim::known(1);
    else out.erase(out.begin() + *axis);
    return oneOutput(std::move(out));
}

//! Y has x's shape; Mean and InvStdDev keep the dims before `axis` and are 1 from there on.
std::vector<Facts> layerNorm(const ir::Node& node, const Inputs& in) {
    std::vector<Facts> out{shapeOnly(in.shape(0))};
    const int64_t rank = in.rank(0);
    const auto axis = normalizeAxis(node.attrs().getInt("axis", -1), rank);
    if (rank < 0 || !axis) return out;
    Dims stats = *in.shape(0);
    for (size_t i = static_cast<size_t>(*axis); i < stats.size(); ++i) stats[i] = Dim::known(1);
    out.resize(3, shapeOnly(stats));
    return out;
}

std::vector<Facts> topK(const ir::Node& node, const Inputs& in) {
    const int64_t rank = in.rank(0);
    const auto axis = normalizeAxis(node.attrs().getInt("axis", -1), rank);
    if (rank < 0 || !axis) return noFacts();
    Dims out = *in.shape(0);
    const auto k = in.ints(1);
    out[static_cast<size_t>(*axis)] = k && k->size() == 1 && (*k)[0] >= 0 ? Dim::known((*k)[0]) : unknownDim();
    return {shapeOnly(out), shapeOnly(out)};
}

//! Resize (X, roi, scales, sizes) / Upsample (X, scales): the rank, and the dims when `sizes` is known for every
//! axis. Scales are left to run time (the kernels' rounding of in · scale is theirs to define).
std::vector<Facts> resize(const ir::Node& node, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return noFacts();
    Dims out = unknownDims(static_cast<size_t>(rank));
    const auto sizes = node.op() == OpKind::kResize ? in.ints(3) : std::nullopt;
    const bool stretch = node.attrs().getString("keep_aspect_ratio_policy", "stretch") == "stretch";
    if (sizes && !node.attrs().has("axes") && stretch && static_cast<int64_t>(sizes->size()) == rank) {
        for (size_t i = 0; i < out.size(); ++i) {
            if ((*sizes)[i] >= 0) out[i] = Dim::known((*sizes)[i]);
        }
    }
    return oneOutput(std::move(out));
}

//! DepthToSpace (`ToSpace`) and SpaceToDepth on [N, C, H, W] by blocksize b.
template <bool ToSpace>
std::vector<Facts> depthSpace(const ir::Node& node, const Inputs& in) {
    if (in.rank(0) != 4) return noFacts();
    const int64_t b = node.attrs().getInt("blocksize", 0);
    if (b <= 0) return noFacts();
    const Dims& d = *in.shape(0);
    auto scaled = [](const Dim& x, int64_t mul, int64_t div) {
        if (!x.isStatic() || (x.size * mul) % div != 0) return unknownDim();
        return Dim::known(x.size * mul / div);
    };
    if (ToSpace) return oneOutput(Dims{d[0], scaled(d[1], 1, b * b), scaled(d[2], b, 1), scaled(d[3], b, 1)});
    return oneOutput(Dims{d[0], scaled(d[1], b * b, 1), scaled(d[2], 1, b), scaled(d[3], 1, b)});
}

}  // namespace

void addNnRules(RuleTable& t) {
    t[OpKind::kMatMul] = matmul<0, 1>;
    t[OpKind::kMatMulInteger] = matmul<0, 1>;
    t[OpKind::kQLinearMatMul] = matmul<0, 3>;
    t[OpKind::kGemm] = gemm;
    t[OpKind::kConv] = conv<0, 1>;
    t[OpKind::kConvInteger] = conv<0, 1>;
    t[OpKind::kQLinearConv] = conv<0, 3>;
    t[OpKind::kConvTranspose] = convTranspose;
    for (OpKind op : {OpKind::kMaxPool, OpKind::kAveragePool, OpKind::kLpPool}) t[op] = pool;
    for (OpKind op : {OpKind::kGlobalAveragePool, OpKind::kGlobalMaxPool, OpKind::kGlobalLpPool}) t[op] = globalPool;
    for (OpKind op :
         {OpKind::kReduceL1, OpKind::kReduceL2, OpKind::kReduceLogSum, OpKind::kReduceLogSumExp, OpKind::kReduceMax,
          OpKind::kReduceMean, OpKind::kReduceMin, OpKind::kReduceProd, OpKind::kReduceSum, OpKind::kReduceSumSquare}) {
        t[op] = reduce;
    }
    t[OpKind::kArgMax] = argReduce;
    t[OpKind::kArgMin] = argReduce;
    for (OpKind op :
         {OpKind::kSoftmax, OpKind::kLogSoftmax, OpKind::kHardmax, OpKind::kBatchNormalization,
          OpKind::kInstanceNormalization, OpKind::kLpNormalization, OpKind::kMeanVarianceNormalization, OpKind::kLRN}) {
        t[op] = same;
    }
    t[OpKind::kLayerNormalization] = layerNorm;
    t[OpKind::kTopK] = topK;
    t[OpKind::kResize] = resize;
    t[OpKind::kUpsample] = resize;
    t[OpKind::kDepthToSpace] = depthSpace<true>;
    t[OpKind::kSpaceToDepth] = depthSpace<false>;
}

}  // namespace kiln::passes::shapes
