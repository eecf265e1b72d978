// Reduction geometry shared by the host code that plans a reduction and the kernels that run it (C++17, no
// Kiln headers beyond plain types, so both the .cpp and the .cu files include it).
//
// A reduction maps each output o to the input elements base(o) + offset(r), r in [0, reduceCount): `kept` turns o
// into base(o) and `reduced` turns r into offset(r), each a row-major walk over a few coalesced dims with their
// input strides. Reduce*, ArgMax/ArgMin, MeanVarianceNormalization and the normalizations' statistics all run on
// this one description, whatever axes they reduce.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln::cuda {

//! Dims per indexer after coalescing; kept and reduced dims alternate, so inputs up to rank 16 fit.
constexpr int kMaxReduceDims = 8;

//! A flat row-major index over `sizes` mapped to an element offset through `strides`.
struct DimIndexer {
    int rank = 0;
    int64_t sizes[kMaxReduceDims] = {};
    int64_t strides[kMaxReduceDims] = {};

    KILN_HOST_DEVICE int64_t offset(int64_t i) const {
        if (rank == 1) return i * strides[0];  // the common case: no division
        int64_t off = 0;
        for (int d = rank - 1; d >= 0; --d) {
            off += (i % sizes[d]) * strides[d];
            i /= sizes[d];
        }
        return off;
    }
};

struct ReduceGeometry {
    int64_t outCount = 0;     //!< Number of outputs (product of the kept dims).
    int64_t reduceCount = 0;  //!< Elements folded into each output (product of the reduced dims).
    DimIndexer kept;          //!< Output index -> offset of its first input element.
    DimIndexer reduced;       //!< Position in a reduction -> offset from that first element.
    //! The innermost non-unit input dim is reduced: one reduction reads consecutive elements, so a warp or a
    //! block per output reads coalesced memory. Otherwise neighbouring outputs are neighbours in memory and a
    //! thread per output (reading down the reduced dims) is the coalesced layout.
    bool reducedInnermost = true;
};

}  // namespace kiln::cuda
