// Activation memory planning: every runtime value of a graph gets an offset in one arena, and values whose
// lifetimes do not overlap share memory.
//
//   auto shapes = plan::recordShapesByRunning(graph, inputs);    // or static shapes from shape resolution
//   auto mp = plan::planMemory(graph, {}, &*shapes);
//   std::byte* arena = allocate(mp->arenaBytes);                // once per execution context
//   void* y = arena + *mp->offsetOf(graph.findValue("y"));  // nullopt for inputs/constants
//
// Scope: the values of the graph itself (node outputs). Graph inputs, constants and values of subgraphs
// (If/Loop/Scan bodies, which run with their own allocations) are not planned; a value that a subgraph reads from
// this graph (outer-scope capture) stays live until the node owning the subgraph has run.
//
// Algorithm: the greedy-by-size planner of TFLite's ArenaPlanner / ONNX Runtime's memory patterns. A value's
// lifetime is [index of its producer, index of its last consumer] over the node order; buffers are placed largest
// first, each at the best-fitting gap (smallest gap that fits, else the end) among the already placed buffers
// whose lifetimes overlap its own. Offsets and sizes are multiples of `alignment`.
//
// Thread safety: pure functions; a MemoryPlan is an immutable value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::plan {

//! Actual shapes of values, e.g. recorded from a run; takes precedence over the values' own static shapes.
using ShapeMap = std::unordered_map<const ir::Value*, Shape>;

enum class OutputPolicy {
    kSeparate,  //!< Graph outputs get space of their own for the whole run: they never share with anything.
    kKeepAlive  //!< Graph outputs live from their producer to the end of the run (may reuse earlier buffers).
};

struct MemoryPlanOptions {
    size_t alignment = 256;  //!< Of every offset and every buffer size (a power of two).
    OutputPolicy outputs = OutputPolicy::kSeparate;
};

//! One planned value.
struct BufferAssignment {
    const ir::Value* value = nullptr;
    size_t offset = 0;     //!< Byte offset in the arena (multiple of the alignment).
    size_t bytes = 0;      //!< Exact size of the value's data.
    int64_t firstUse = 0;  //!< Index of the node that produces it (-1 for outputs under OutputPolicy::kSeparate).
    int64_t lastUse = 0;   //!< Index of the last node that reads it (node count for values kept to the end).
};

struct MemoryPlan {
    size_t arenaBytes = 0;         //!< Size of the one arena that holds every planned value.
    size_t totalBytes = 0;         //!< Sum of all planned values' sizes (what allocating each separately costs).
    size_t totalAlignedBytes = 0;  //!< The same sum with each size rounded up to the alignment.
    size_t alignment = 0;
    std::vector<BufferAssignment> buffers;  //!< In node order.

    //! Arena offset of `v`, or nullopt for values not planned (inputs, constants, subgraph values).
    std::optional<size_t> offsetOf(const ir::Value* v) const;
    const BufferAssignment* find(const ir::Value* v) const;

private:
    friend Result<MemoryPlan> planMemory(const ir::Graph&, const MemoryPlanOptions&, const ShapeMap*);
    std::unordered_map<const ir::Value*, size_t> mIndex;
};

//! Plans `graph`. Every node output must have a dtype of fixed element size (no strings) and a static shape, from
//! `shapes` or from the value itself; otherwise fails naming the value.
Result<MemoryPlan> planMemory(const ir::Graph& graph, const MemoryPlanOptions& options = {},
                              const ShapeMap* shapes = nullptr);

//! Checks a plan: every pair of buffers that is live at the same time occupies disjoint bytes, all within the
//! arena and aligned. For tests and the builder's debug mode.
Status verifyMemoryPlan(const MemoryPlan& plan);

//! Runs `graph` once on `inputs` with the CPU reference executor and records the actual shape of every node output
//! of the top-level graph (for graphs whose shapes are symbolic until run, e.g. a dynamic batch). Leaves `graph`
//! unchanged: it runs a copy made through the engine-file serializer.
Result<ShapeMap> recordShapesByRunning(const ir::Graph& graph, const std::vector<Tensor>& inputs);

}  // namespace kiln::plan
