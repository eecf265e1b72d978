#include <array>

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

namespace {
constexpr std::array<KernelFn, static_cast<size_t>(ir::kOpCount)> kKernels = {{
#define KILN_OP(name, domain, family) &kernel##name,
#include "ir/ops.def"
#undef KILN_OP
}};
}  // namespace

KernelFn cpuKernel(ir::OpKind op) noexcept { return kKernels[static_cast<size_t>(op)]; }

Status KernelContext::requireInputs(size_t minCount, size_t maxCount) const {
    if (inputs.size() < minCount || inputs.size() > maxCount) {
        return invalidArgument(
            "expects " + std::to_string(minCount) +
            (maxCount == minCount ? "" : (maxCount == SIZE_MAX ? "+" : "-" + std::to_string(maxCount))) +
            " inputs, got " + std::to_string(inputs.size()));
    }
    for (size_t i = 0; i < minCount; ++i) {
        if (inputs[i] == nullptr) return invalidArgument("required input " + std::to_string(i) + " is missing");
    }
    return Status::ok();
}

Result<DataType> dataTypeAttribute(const KernelContext& ctx, const char* name, DataType fallback, bool allowBool) {
    if (!ctx.attrs().has(name)) return fallback;
    const int64_t code = ctx.attrs().getInt(name, 0);
    const auto t = static_cast<DataType>(code);
    const bool ok = isFloatingPoint(t) || isInteger(t) || (allowBool && t == DataType::kBool);
    if (!ok) {
        return invalidArgument(std::string("attribute '") + name + "' " + std::to_string(code) +
                               " is not a supported data type");
    }
    return t;
}

Result<int64_t> normalizeAxis(int64_t axis, int64_t rank, const char* what) {
    if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
        return invalidArgument(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                               std::to_string(rank));
    }
    return axis < 0 ? axis + rank : axis;
}

}  // namespace kiln::cpu
