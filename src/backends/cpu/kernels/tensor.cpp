// Shape ops and tensor creation: Identity, Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size, Dropout, Constant,
// ConstantOfShape, Range, EyeLike, Trilu. Reshaping ops share the input buffer under a new shape (they never
// write it), so they cost nothing.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backends/cpu/data_movement.h"
#include "backends/cpu/kernel.h"
#include "backends/cpu/nn_common.h"
#include "backends/cpu/op_plans.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

//! Product of dims with an overflow check (all dims must be >= 0).
Result<int64_t> checkedProduct(const Shape& dims, const char* what) {
    int64_t n = 1;
    for (int64_t d : dims) {
        if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
            return invalidArgument(std::string(what) + " " + shapeToString(dims) + " has too many elements");
        }
        n *= d;
    }
    return n;
}

//! Normalizes a list of axes against `rank`, rejecting out-of-range and repeated axes.
Result<std::vector<int64_t>> normalizeAxes(const std::vector<int64_t>& axes, int64_t rank, const char* what) {
    std::vector<int64_t> out;
    for (int64_t a : axes) {
        if (a < -rank || a >= rank) {
            return invalidArgument(std::string(what) + " value " + std::to_string(a) + " is out of range for rank " +
                                   std::to_string(rank));
        }
        const int64_t n = a < 0 ? a + rank : a;
        if (std::find(out.begin(), out.end(), n) != out.end()) {
            return invalidArgument(std::string(what) + " repeats axis " + std::to_string(a));
        }
        out.push_back(n);
    }
    return out;
}

}  // namespace

Status kernelIdentity(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    ctx.outputs[0] = ctx.input(0);  // shares the buffer; kernels never write their inputs
    return Status::ok();
}

Status kernelReshape(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 2));
    const Tensor& data = ctx.input(0);
    std::vector<int64_t> requested;
    if (ctx.hasInput(1)) {
        KILN_ASSIGN_OR_RETURN(requested, readIndexVector(ctx.input(1), "shape"));
    } else if (auto attr = ctx.attrs().getInts("shape"); attr && ctx.opset() < 5) {
        requested = *attr;  // Reshape-1 took the shape as an attribute
    } else {
        return invalidArgument("input 1 'shape' is missing");
    }
    const bool allowZero = ctx.attrs().getInt("allowzero", 0) != 0;
    Shape shape(requested.size());
    int64_t inferred = -1;
    for (size_t i = 0; i < requested.size(); ++i) {
        int64_t d = requested[i];
        if (d == 0 && !allowZero) {
            if (static_cast<int64_t>(i) >= data.rank()) {
                return invalidArgument("shape " + shapeToString(requested) + " copies dim " + std::to_string(i) +
                                       " (0) but the data " + data.describe() + " has rank " +
                                       std::to_string(data.rank()));
            }
            d = data.shape()[i];
        } else if (d == -1) {
            if (inferred >= 0) return invalidArgument("shape " + shapeToString(requested) + " has more than one -1");
            inferred = static_cast<int64_t>(i);
            d = 1;
        } else if (d < -1) {
            return invalidArgument("shape " + shapeToString(requested) + " has invalid dim " + std::to_string(d));
        }
        shape[i] = d;
    }
    KILN_ASSIGN_OR_RETURN(int64_t known, checkedProduct(shape, "shape"));
    if (inferred >= 0) {
        if (known == 0 || data.numel() % known != 0) {
            return invalidArgument("cannot reshape " + data.describe() + " to " + shapeToString(requested) +
                                   ": the -1 dim cannot be inferred");
        }
        shape[static_cast<size_t>(inferred)] = data.numel() / known;
    } else if (known != data.numel()) {
        return invalidArgument("cannot reshape " + data.describe() + " to " + shapeToString(requested) + " (" +
                               std::to_string(known) + " elements)");
    }
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], data.reshaped(std::move(shape)));
    return Status::ok();
}

Status kernelFlatten(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    int64_t axis = ctx.attrs().getInt("axis", 1);
    if (axis < -x.rank() || axis > x.rank()) {
        return invalidArgument("attribute 'axis' " + std::to_string(axis) + " is out of range for " + x.describe());
    }
    if (axis < 0) axis += x.rank();
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.shape()[static_cast<size_t>(i)];
    int64_t inner = 1;
    for (int64_t i = axis; i < x.rank(); ++i) inner *= x.shape()[static_cast<size_t>(i)];
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], x.reshaped({outer, inner}));
    return Status::ok();
}

Status kernelSqueeze(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 2));
    const Tensor& x = ctx.input(0);
    std::vector<bool> drop(static_cast<size_t>(x.rank()), false);
    // An empty axes list squeezes every size-1 dim, as when axes is absent (ONNX Runtime does the same).
    if (ctx.hasInput(1) && ctx.input(1).numel() > 0) {
        KILN_ASSIGN_OR_RETURN(auto raw, readIndexVector(ctx.input(1), "axes"));
        KILN_ASSIGN_OR_RETURN(auto axes, normalizeAxes(raw, x.rank(), "input 'axes'"));
        for (int64_t a : axes) {
            if (x.shape()[static_cast<size_t>(a)] != 1) {
                return invalidArgument("cannot squeeze axis " + std::to_string(a) + " of " + x.describe() +
                                       ": its size is not 1");
            }
            drop[static_cast<size_t>(a)] = true;
        }
    } else {
        for (size_t i = 0; i < drop.size(); ++i) drop[i] = x.shape()[i] == 1;
    }
    Shape shape;
    for (size_t i = 0; i < drop.size(); ++i) {
        if (!drop[i]) shape.push_back(x.shape()[i]);
    }
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], x.reshaped(std::move(shape)));
    return Status::ok();
}

Status kernelUnsqueeze(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(auto raw, readIndexVector(ctx.input(1), "axes"));
    const int64_t outRank = x.rank() + static_cast<int64_t>(raw.size());
    KILN_ASSIGN_OR_RETURN(auto axes, normalizeAxes(raw, outRank, "input 'axes'"));
    Shape shape(static_cast<size_t>(outRank), 1);
    std::vector<bool> inserted(shape.size(), false);
    for (int64_t a : axes) inserted[static_cast<size_t>(a)] = true;
    size_t next = 0;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (!inserted[i]) shape[i] = x.shape()[next++];
    }
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], x.reshaped(std::move(shape)));
    return Status::ok();
}

Status kernelShape(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    // Shape-15 added start/end, clamped to [0, rank] after adding rank to negative values.
    auto clampIndex = [&](int64_t v) { return std::clamp(v < 0 ? v + x.rank() : v, int64_t{0}, x.rank()); };
    const int64_t start = clampIndex(ctx.attrs().getInt("start", 0));
    const int64_t end = clampIndex(ctx.attrs().getInt("end", x.rank()));
    const int64_t count = std::max<int64_t>(end - start, 0);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kInt64, {count}));
    for (int64_t i = 0; i < count; ++i) y->data<int64_t>()[i] = x.shape()[static_cast<size_t>(start + i)];
    return Status::ok();
}

Status kernelSize(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    ctx.outputs[0] = Tensor::scalar<int64_t>(ctx.input(0).numel());
    return Status::ok();
}

Status kernelDropout(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 3));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(
        nn::checkDropoutIsNoOp(ctx.hasInput(1) ? &ctx.input(1) : nullptr, ctx.hasInput(2) ? &ctx.input(2) : nullptr));
    ctx.outputs[0] = x;
    if (ctx.wantsOutput(1)) {
        // The mask is bool since opset 10; before that it had the input's dtype.
        const DataType maskType = ctx.opset() >= 10 ? DataType::kBool : x.dtype();
        KILN_ASSIGN_OR_RETURN(Tensor * mask, ctx.allocateOutput(1, maskType, x.shape()));
        KILN_RETURN_IF_ERROR(dispatchAll(
            maskType,
            [&]<typename T>() {
                std::fill(mask->data<T>(), mask->data<T>() + mask->numel(), fromCompute<T>(ComputeT<T>(1)));
                return Status::ok();
            },
            "the Dropout mask"));
    }
    return Status::ok();
}

Status kernelConstant(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(0, 0));
    const ir::Attributes& a = ctx.attrs();
    if (auto t = a.getTensor("value")) {
        ctx.outputs[0] = *t;
    } else if (auto f = a.get<float>("value_float")) {
        ctx.outputs[0] = Tensor::scalar(*f);
    } else if (auto fs = a.getFloats("value_floats")) {
        ctx.outputs[0] = Tensor::fromVector(*fs, {static_cast<int64_t>(fs->size())});
    } else if (auto i = a.get<int64_t>("value_int")) {
        ctx.outputs[0] = Tensor::scalar(*i);
    } else if (auto is = a.getInts("value_ints")) {
        ctx.outputs[0] = Tensor::fromVector(*is, {static_cast<int64_t>(is->size())});
    } else if (auto s = a.get<std::string>("value_string")) {
        Tensor t(DataType::kString, {});
        t.strings()[0] = *s;
        ctx.outputs[0] = std::move(t);
    } else if (auto ss = a.getStrings("value_strings")) {
        Tensor t(DataType::kString, {static_cast<int64_t>(ss->size())});
        std::copy(ss->begin(), ss->end(), t.strings());
        ctx.outputs[0] = std::move(t);
    } else if (a.has("sparse_value")) {
        return unsupported("attribute 'sparse_value' is not supported");
    } else {
        return invalidArgument(
            "Constant needs one of the attributes value, value_float(s), value_int(s), value_string(s)");
    }
    return Status::ok();
}

Status kernelConstantOfShape(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(ConstantOfShapePlan plan, planConstantOfShape(ctx));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, plan.value.dtype(), plan.shape));
    DimOffsets offsets;
    for (int64_t d : plan.shape) offsets.emplace_back(static_cast<size_t>(d), 0);
    gatherByDimOffsets(plan.value, 0, offsets, *y);
    return Status::ok();
}

Status kernelRange(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(RangePlan plan, planRange(ctx));
    const DataType type = plan.type;
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, type, {plan.count}));
    if (type == DataType::kFloat32 || type == DataType::kFloat64) {
        for (int64_t i = 0; i < plan.count; ++i) {
            const double v = plan.startF + static_cast<double>(i) * plan.deltaF;
            if (type == DataType::kFloat32) {
                y->data<float>()[i] = static_cast<float>(v);
            } else {
                y->data<double>()[i] = v;
            }
        }
        return Status::ok();
    }
    return dispatchInteger(type, [&]<typename T>() {
        for (int64_t i = 0; i < plan.count; ++i) y->data<T>()[i] = static_cast<T>(plan.startI + i * plan.deltaI);
        return Status::ok();
    });
}

Status kernelEyeLike(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(EyeLikePlan plan, planEyeLike(ctx));
    const Tensor& x = ctx.input(0);
    const int64_t k = plan.k;
    const int64_t rows = x.dim(0);
    const int64_t cols = x.dim(1);
    return dispatchAll(
        plan.type,
        [&]<typename T>() {
            KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, plan.type, x.shape()));
            // Checked first so that i + k cannot overflow for extreme k.
            if (k >= cols || k <= -rows) return Status::ok();
            for (int64_t i = 0; i < rows; ++i) {
                const int64_t j = i + k;
                if (j >= 0 && j < cols) y->data<T>()[i * cols + j] = fromCompute<T>(ComputeT<T>(1));
            }
            return Status::ok();
        },
        "EyeLike");
}

Status kernelTrilu(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(TriluPlan plan, planTrilu(ctx));
    const Tensor& x = ctx.input(0);
    const int64_t rows = x.dim(-2);
    const int64_t cols = x.dim(-1);
    const int64_t k = plan.k;
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), x.shape()));
    const int64_t matrices = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
    for (int64_t m = 0; m < matrices; ++m) {
        for (int64_t i = 0; i < rows; ++i) {
            // Upper keeps columns j >= i + k; lower keeps j <= i + k.
            const int64_t begin = plan.upper ? std::clamp(i + k, int64_t{0}, cols) : 0;
            const int64_t end = plan.upper ? cols : std::clamp(i + k + 1, int64_t{0}, cols);
            const int64_t row = (m * rows + i) * cols;
            copyElements(x, row + begin, *y, row + begin, end - begin);
        }
    }
    return Status::ok();
}

}  // namespace kiln::cpu
