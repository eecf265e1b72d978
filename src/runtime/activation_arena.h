// One execution context's activation memory on the CPU backend: one arena laid out by plan::planMemory, and the
// executor hook (cpu::ActivationAllocator) that places each node output of the top-level graph at its planned
// offset.
//
// Engines whose shapes are all static share one plan made when the engine is created; the context allocates its
// arena (Engine::getActivationMemorySize bytes) when it is created. Other engines (dynamic input dims,
// data-dependent shapes) have no plan up front: the first enqueue with a given set of input shapes runs on the heap
// and records every activation's shape, and the plan made from them serves the following enqueues with those input
// shapes (new input shapes: recorded and planned again, between enqueues). The arena never grows during an
// enqueue: an activation whose size differs from its plan (a data-dependent shape), a value the plan does not cover
// or a kernel that makes its own tensor stays on the heap, and stats() counts each case.
//
// Thread safety: none; one per execution context, used by the thread that runs it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "backends/cpu/activation_allocator.h"
#include "kiln/kiln.h"
#include "plan/memory_plan.h"

namespace kiln::runtime {

//! Where the last run's activations (node outputs of the top-level graph) lived; before the first run, the arena
//! allocated with the context.
struct ArenaStats {
    size_t arenaBytes = 0;    //!< Size of the context's arena (0: none yet).
    size_t plannedBytes = 0;  //!< Sum of the planned activations' sizes (what allocating each apart would take).
    size_t inArena = 0;       //!< Allocated at their planned offset.
    size_t copiedIn = 0;      //!< Aliases of another activation (Reshape, Identity, ...) copied into their own place.
    size_t onHeap = 0;        //!< Outside the arena: not planned, another size than planned, or made by the kernel.
};

class ActivationArena final : public cpu::ActivationAllocator {
public:
    //! `staticPlan`: the engine's plan when all its shapes are static, else null.
    explicit ActivationArena(std::shared_ptr<const plan::MemoryPlan> staticPlan);
    ActivationArena(const ActivationArena&) = delete;
    ActivationArena& operator=(const ActivationArena&) = delete;

    //! Allocates the arena of a static plan (kOutOfRange when the host is out of memory).
    Status reserve();
    //! Before a run on inputs of `inputShapes`: uses the plan made for them or, without one, records this run.
    void beginRun(const std::vector<Shape>& inputShapes);
    //! After a successful run: a recorded run becomes the plan for its input shapes.
    void endRun(const ir::Graph& graph);

    Tensor allocate(const ir::Value& value, DataType dtype, const Shape& shape) override;
    void produced(const ir::Value& value, Tensor& tensor) override;

    //! True when `tensor` lives in the arena (so the next run overwrites it).
    bool contains(const Tensor& tensor) const noexcept;
    const ArenaStats& stats() const noexcept { return mStats; }

private:
    bool inArena(const void* p) const noexcept;
    Status allocateBuffer(size_t bytes);

    std::shared_ptr<const plan::MemoryPlan> mPlan;
    bool mStatic = false;
    std::shared_ptr<std::byte> mBuffer;  //!< Shared with the tensors of a run, so outputs outlive a re-plan.
    size_t mBufferBytes = 0;
    std::optional<std::vector<Shape>> mPlannedFor;  //!< Input shapes the (recorded) plan was made for.
    bool mRecording = false;
    plan::ShapeMap mRecorded;
    std::vector<Shape> mRunInputs;
    ArenaStats mStats;
};

//! The arena statistics of a CPU execution context's last enqueue/infer (for tests and diagnostics); all zero for
//! a context of another backend.
ArenaStats arenaStatsOf(const ExecutionContext& context);

}  // namespace kiln::runtime
