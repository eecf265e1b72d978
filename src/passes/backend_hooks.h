// How a backend shapes optimization: the pipeline it wants (Glow's `shouldLower` idea), the elementwise chains
// it will fuse into one kernel, and the layout and precision it gives each value. The defaults suit the CPU
// reference backend: the default pipeline, no claimed chains, NCHW fp32 everywhere (no-ops).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "passes/pass.h"

namespace kiln::passes {

//! A chain of elementwise nodes a backend compiles into one kernel; nodes in topological order, each one's
//! output read only by the next (except the last).
struct FusionClaim {
    std::vector<ir::Node*> nodes;
    std::string kernel;  //!< The backend's name for the generated kernel.
};

//! Precisions the builder allows (BuilderConfig flags); a backend may pick a lower one where it has a kernel.
struct PrecisionPolicy {
    bool fp16 = false;
    bool bf16 = false;
    bool tf32 = false;
    bool int8 = false;
    //! Layer precision pins (node attribute kiln_precision) a node has no kernel for: false ("obey", the default)
    //! fails the build, true ("prefer") keeps the node in float32 with a warning.
    bool preferPins = false;
};

class BackendHooks {
public:
    virtual ~BackendHooks() = default;
    virtual std::string name() const { return "cpu"; }
    //! The passes to run, in order (default: defaultPipeline()).
    virtual std::vector<std::unique_ptr<Pass>> pipeline() const;
    //! Elementwise chains the backend takes over; default: none.
    virtual std::vector<FusionClaim> claimElementwiseChains(const ir::Graph& graph) const { return {}; }
    //! Chooses a memory layout per value (e.g. NHWC for tensor cores), inserting transposes where needed;
    //! returns the number of changes. Default: keeps the ONNX layout.
    virtual Result<int64_t> assignLayouts(ir::Graph& graph, PassContext& ctx) const { return int64_t{0}; }
    //! Chooses a compute precision per node within `policy`; returns the number of changes. Default: as imported.
    virtual Result<int64_t> assignPrecisions(ir::Graph& graph, const PrecisionPolicy& policy, PassContext& ctx) const {
        return int64_t{0};
    }
    //! Whether transpose-cast-fusion turns Cast → Transpose (and Transpose → Cast) into one kiln TransposeCast: worth
    //! it where one kernel converts and permutes in a single pass over memory. Default: no.
    virtual bool fusesTransposeCast() const { return false; }
};

}  // namespace kiln::passes
