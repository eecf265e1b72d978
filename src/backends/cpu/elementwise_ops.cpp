#include "backends/cpu/elementwise_ops.h"

namespace kiln::cpu::ew {

Result<Shape> legacyBroadcastShape(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
    // Opsets 1-6 of the arithmetic/logic ops broadcast only with broadcast=1, and `axis` aligns B's first dim with
    // A's dim `axis` instead of aligning trailing dims. Padding B with trailing 1s turns that into numpy rules.
    if (ctx.opset() >= 7 || ctx.attrs().getInt("broadcast", 0) == 0 || !ctx.attrs().has("axis")) return b.shape();
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", 0), a.rank()));
    if (axis + b.rank() > a.rank()) {
        return invalidArgument("attribute 'axis' " + std::to_string(axis) + " places input 'B' " +
                               shapeToString(b.shape()) + " past the end of input 'A' " + shapeToString(a.shape()));
    }
    Shape shape = b.shape();
    shape.resize(static_cast<size_t>(a.rank() - axis), 1);
    return shape;
}

}  // namespace kiln::cpu::ew
