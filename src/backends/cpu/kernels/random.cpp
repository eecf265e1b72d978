// Random generators: RandomUniform, RandomNormal, RandomUniformLike, RandomNormalLike, Bernoulli, Multinomial.
//
// A `seed` attribute makes a node deterministic: the generator is std::mt19937_64 seeded from the seed's float
// bits, and the uniform/normal transforms are written out here (53-bit uniforms, Box-Muller) instead of using
// std:: distributions, whose algorithms differ between standard libraries. Without a seed each run draws fresh
// values from std::random_device. ONNX does not specify the bit stream, so no runtime matches another's values.
#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "common/dispatch.h"

namespace kiln::cpu {
namespace {

class Generator {
public:
    explicit Generator(const KernelContext& ctx) {
        if (auto seed = ctx.attrs().get<float>("seed")) {
            mRng.seed(std::bit_cast<uint32_t>(*seed));
        } else {
            std::random_device device;
            mRng.seed((static_cast<uint64_t>(device()) << 32) | device());
        }
    }
    //! Uniform in [0, 1).
    double uniform() { return static_cast<double>(mRng() >> 11) * 0x1.0p-53; }
    //! Standard normal (Box-Muller; the second value of each pair is kept for the next call).
    double normal() {
        if (mHasSpare) {
            mHasSpare = false;
            return mSpare;
        }
        const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
        const double u2 = uniform();
        const double radius = std::sqrt(-2.0 * std::log(u1));
        mSpare = radius * std::sin(2.0 * std::numbers::pi * u2);
        mHasSpare = true;
        return radius * std::cos(2.0 * std::numbers::pi * u2);
    }

private:
    std::mt19937_64 mRng;
    double mSpare = 0.0;
    bool mHasSpare = false;
};

Status requireFloatOutput(DataType t) {
    if (!isFloatingPoint(t)) {
        return invalidArgument(std::string("output dtype must be float16, float32 or float64, got ") + dataTypeName(t));
    }
    return Status::ok();
}

Result<Shape> shapeAttr(const KernelContext& ctx) {
    auto shape = ctx.attrs().getInts("shape");
    if (!shape) return invalidArgument("attribute 'shape' is required");
    for (int64_t d : *shape) {
        if (d < 0) return invalidArgument("attribute 'shape' " + shapeToString(*shape) + " has a negative dimension");
    }
    return *shape;
}

//! Fills output 0 (dtype `type`, `shape`) with `draw(gen)` values.
template <typename Draw>
Status fillRandom(KernelContext& ctx, DataType type, const Shape& shape, Draw draw) {
    KILN_RETURN_IF_ERROR(requireFloatOutput(type));
    Generator gen(ctx);
    return dispatchFloat(type, [&]<typename T>() -> Status {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, type, shape));
        T* out = y->data<T>();
        for (int64_t i = 0; i < y->numel(); ++i) out[i] = fromDouble<T>(draw(gen));
        return Status::ok();
    });
}

Status uniform(KernelContext& ctx, DataType type, const Shape& shape) {
    const double low = ctx.attrs().getFloat("low", 0.0f);
    const double high = ctx.attrs().getFloat("high", 1.0f);
    if (!(high >= low)) {
        return invalidArgument("attribute 'high' (" + std::to_string(high) + ") must be >= 'low' (" +
                               std::to_string(low) + ")");
    }
    return fillRandom(ctx, type, shape, [&](Generator& g) { return low + (high - low) * g.uniform(); });
}

Status normal(KernelContext& ctx, DataType type, const Shape& shape) {
    const double mean = ctx.attrs().getFloat("mean", 0.0f);
    const double scale = ctx.attrs().getFloat("scale", 1.0f);
    if (!(scale >= 0.0)) return invalidArgument("attribute 'scale' must be non-negative, got " + std::to_string(scale));
    return fillRandom(ctx, type, shape, [&](Generator& g) { return mean + scale * g.normal(); });
}

}  // namespace

Status kernelRandomUniform(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(0, 0));
    KILN_ASSIGN_OR_RETURN(Shape shape, shapeAttr(ctx));
    KILN_ASSIGN_OR_RETURN(DataType type, dataTypeAttribute(ctx, "dtype", DataType::kFloat32, true));
    return uniform(ctx, type, shape);
}

Status kernelRandomNormal(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(0, 0));
    KILN_ASSIGN_OR_RETURN(Shape shape, shapeAttr(ctx));
    KILN_ASSIGN_OR_RETURN(DataType type, dataTypeAttribute(ctx, "dtype", DataType::kFloat32, true));
    return normal(ctx, type, shape);
}

Status kernelRandomUniformLike(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    KILN_ASSIGN_OR_RETURN(DataType type, dataTypeAttribute(ctx, "dtype", ctx.input(0).dtype(), true));
    return uniform(ctx, type, ctx.input(0).shape());
}

Status kernelRandomNormalLike(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    KILN_ASSIGN_OR_RETURN(DataType type, dataTypeAttribute(ctx, "dtype", ctx.input(0).dtype(), true));
    return normal(ctx, type, ctx.input(0).shape());
}

Status kernelBernoulli(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& p = ctx.input(0);
    if (!isFloatingPoint(p.dtype())) {
        return invalidArgument(std::string("input 'input' must be float16, float32 or float64, got ") +
                               dataTypeName(p.dtype()));
    }
    KILN_ASSIGN_OR_RETURN(DataType type, dataTypeAttribute(ctx, "dtype", p.dtype(), true));
    for (int64_t i = 0; i < p.numel(); ++i) {
        const double v = p.getDouble(i);
        if (!(v >= 0.0 && v <= 1.0)) {
            return invalidArgument("input 'input' holds " + std::to_string(v) + " at " + std::to_string(i) +
                                   ", outside the probability range [0, 1]");
        }
    }
    Generator gen(ctx);
    return dispatchAll(type, [&]<typename T>() -> Status {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, type, p.shape()));
        T* out = y->data<T>();
        for (int64_t i = 0; i < p.numel(); ++i) out[i] = fromDouble<T>(gen.uniform() < p.getDouble(i) ? 1.0 : 0.0);
        return Status::ok();
    });
}

Status kernelMultinomial(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& logits = ctx.input(0);
    if (!isFloatingPoint(logits.dtype())) {
        return invalidArgument(std::string("input 'input' must be float16, float32 or float64, got ") +
                               dataTypeName(logits.dtype()));
    }
    if (logits.rank() != 2) {
        return invalidArgument("input 'input' must have shape [batch, classes], got " + shapeToString(logits.shape()));
    }
    const int64_t sampleSize = ctx.attrs().getInt("sample_size", 1);
    if (sampleSize < 0) {
        return invalidArgument("attribute 'sample_size' must be >= 0, got " + std::to_string(sampleSize));
    }
    KILN_ASSIGN_OR_RETURN(DataType type, dataTypeAttribute(ctx, "dtype", DataType::kInt32, true));
    if (type != DataType::kInt32 && type != DataType::kInt64) {
        return invalidArgument(std::string("attribute 'dtype' must be int32 or int64, got ") + dataTypeName(type));
    }
    const int64_t batch = logits.dim(0);
    const int64_t classes = logits.dim(1);
    if (classes == 0 && sampleSize > 0 && batch > 0) {
        return invalidArgument("input 'input' has no classes to sample from");
    }
    Generator gen(ctx);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, type, {batch, sampleSize}));
    std::vector<double> cumulative(static_cast<size_t>(classes));
    for (int64_t b = 0; b < batch; ++b) {
        // Probabilities are softmax(logits); subtracting the max keeps exp finite.
        double maxLogit = -INFINITY;
        for (int64_t c = 0; c < classes; ++c) maxLogit = std::max(maxLogit, logits.getDouble(b * classes + c));
        if (maxLogit == -INFINITY) {
            return invalidArgument("input 'input' row " + std::to_string(b) + " has no finite probability mass");
        }
        double total = 0.0;
        for (int64_t c = 0; c < classes; ++c) {
            const double v = logits.getDouble(b * classes + c);
            total += std::isinf(maxLogit) && v == maxLogit ? 1.0 : std::exp(v - maxLogit);
            cumulative[static_cast<size_t>(c)] = total;
        }
        if (!(total > 0.0) || !std::isfinite(total)) {
            return invalidArgument("input 'input' row " + std::to_string(b) + " has no finite probability mass");
        }
        for (int64_t s = 0; s < sampleSize; ++s) {
            const double u = gen.uniform() * total;
            int64_t pick = classes - 1;
            for (int64_t c = 0; c < classes; ++c) {
                if (u < cumulative[static_cast<size_t>(c)]) {
                    pick = c;
                    break;
                }
            }
            if (type == DataType::kInt32) {
                y->data<int32_t>()[b * sampleSize + s] = static_cast<int32_t>(pick);
            } else {
                y->data<int64_t>()[b * sampleSize + s] = pick;
            }
        }
    }
    return Status::ok();
}

}  // namespace kiln::cpu
