// Numpy-style broadcasting for the reference kernels.
#pragma once

#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu {

//! The broadcast of several shapes, or kInvalidArgument naming both shapes.
Result<Shape> broadcastShapes(const std::vector<Shape>& shapes);

//! Maps a flat index of the broadcast output to the flat index of one input.
class BroadcastIndexer {
public:
    BroadcastIndexer(const Shape& inputShape, const Shape& outputShape);
    int64_t operator()(int64_t outIndex) const;
    bool isIdentity() const { return mIdentity; }

private:
    std::vector<int64_t> mOutDims;
    std::vector<int64_t> mInStrides;  // 0 on broadcast dims
    bool mIdentity;
};

//! Row-major strides of a shape.
std::vector<int64_t> stridesOf(const Shape& shape);

}  // namespace kiln::cpu
