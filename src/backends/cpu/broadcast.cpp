#include "backends/cpu/broadcast.h"

#include <algorithm>

namespace kiln::cpu {

Result<Shape> broadcastShapes(const std::vector<Shape>& shapes) {
    size_t rank = 0;
    for (const Shape& s : shapes) rank = std::max(rank, s.size());
    Shape out(rank, 1);
    for (const Shape& s : shapes) {
        const size_t offset = rank - s.size();
        for (size_t i = 0; i < s.size(); ++i) {
            int64_t& o = out[offset + i];
            const int64_t d = s[i];
            if (d == o || d == 1) continue;
            if (o == 1) {
                o = d;
                continue;
            }
            std::string msg = "shapes cannot be broadcast together:";
            for (const Shape& t : shapes) msg += " " + shapeToString(t);
            return invalidArgument(msg);
        }
    }
    return out;
}

std::vector<int64_t> stridesOf(const Shape& shape) {
    std::vector<int64_t> strides(shape.size(), 1);
    for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i) {
        strides[static_cast<size_t>(i)] = strides[static_cast<size_t>(i + 1)] * shape[static_cast<size_t>(i + 1)];
    }
    return strides;
}

BroadcastIndexer::BroadcastIndexer(const Shape& inputShape, const Shape& outputShape)
    : mOutDims(outputShape), mInStrides(outputShape.size(), 0), mIdentity(inputShape == outputShape) {
    const auto inStrides = stridesOf(inputShape);
    const size_t offset = outputShape.size() - inputShape.size();
    for (size_t i = 0; i < inputShape.size(); ++i) {
        mInStrides[offset + i] = inputShape[i] == 1 ? 0 : inStrides[i];
    }
}

int64_t BroadcastIndexer::operator()(int64_t outIndex) const {
    if (mIdentity) return outIndex;
    int64_t in = 0;
    for (int64_t d = static_cast<int64_t>(mOutDims.size()) - 1; d >= 0 && outIndex > 0; --d) {
        const int64_t size = mOutDims[static_cast<size_t>(d)];
        in += (outIndex % size) * mInStrides[static_cast<size_t>(d)];
        outIndex /= size;
    }
    return in;
}

}  // namespace kiln::cpu
