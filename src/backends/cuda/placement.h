// Where each node of a graph runs on the CUDA backend, and which of its values depend on the input shapes alone.
// Pure host analysis (no CUDA call), so that `kiln inspect` and the CPU unit tests can use it without a GPU.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"

namespace kiln::cuda {

//! Where a node runs.
enum class Placement {
    kDevice,  //!< A CUDA kernel.
    kHost,    //!< The CPU reference kernel (no CUDA kernel, subgraphs, or integer shape arithmetic).
    kMeta,    //!< Shape / Size: computed from the input's shape alone, no data touched.
};

struct NodePlacement {
    std::vector<Placement> placement;  //!< Per node, in graph order.
    std::vector<std::string> reason;   //!< Why a node runs on the host; empty for device nodes.
};

//! Places every node of `graph`: on the device where the CUDA op table has a kernel, on the host for Shape/Size,
//! control flow, strings, ops without a kernel, and integer ops whose inputs are all on the host already.
NodePlacement placeNodes(const ir::Graph& graph);

//! The nodes whose outputs follow from the input shapes alone (TensorRT's "shape tensors"): Shape/Size of a value
//! whose shape is fixed by the input shapes, and host nodes over constants and such values (BERT's Shape → Gather →
//! Unsqueeze → Concat → Reshape chains, Range/ConstantOfShape sizes). They give the same result for every run with
//! the same input shapes, so an execution context computes them once per shape signature and caches them.
struct ShapeOnly {
    std::vector<bool> node;                       //!< Per node: computed once per shape signature.
    std::unordered_set<const ir::Value*> values;  //!< Outputs of those nodes.
    std::vector<const ir::Value*> kept;           //!< Those read by other nodes or graph outputs: cached.
    bool any() const { return !kept.empty(); }
};

ShapeOnly analyzeShapeOnly(const ir::Graph& graph, const NodePlacement& placement);

//! Whether one enqueue can be recorded by CUDA stream capture and replayed with the same result, once the
//! shape-only values are cached: no host node reads a value produced on the device (a download and a stream
//! synchronization), no device node reads a value computed on the host during the run (an upload from pageable
//! memory), and no graph output is produced on the host. `reason` names the first offending node and value.
struct CaptureVerdict {
    bool capturable = true;
    int64_t node = -1;   //!< Index of the first offending node (-1: a graph output, or capturable).
    std::string reason;  //!< One line; empty when capturable.
};

CaptureVerdict captureVerdict(const ir::Graph& graph, const NodePlacement& placement, const ShapeOnly& shapeOnly);

//! All three for a graph, as `kiln inspect` shows them.
CaptureVerdict analyzeCapture(const ir::Graph& graph);

}  // namespace kiln::cuda
