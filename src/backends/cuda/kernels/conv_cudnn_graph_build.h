// The host side of cuDNN's backend (graph) API for the channels-last fused convolution: owned backend descriptors
// with checked attribute setters, the operation graph y = act(conv(x, w) + bias [+ z]), the engine configurations
// its heuristics rank, execution plans rebuilt from a config's engine index and knob choices, and the tactic text
// that names one config. conv_cudnn_graph.cpp caches and runs what this file builds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/cuda/kernels/conv_cudnn.h"

namespace kiln::cuda {

//! A cuDNN backend descriptor, destroyed with the object (movable, not copyable).
class BackendDesc {
public:
    BackendDesc() = default;
    ~BackendDesc();
    BackendDesc(BackendDesc&& o) noexcept : mDesc(std::exchange(o.mDesc, nullptr)) {}
    BackendDesc& operator=(BackendDesc&& o) noexcept;
    BackendDesc(const BackendDesc&) = delete;
    BackendDesc& operator=(const BackendDesc&) = delete;

    static Result<BackendDesc> create(cudnnBackendDescriptorType_t type, const char* what);
    cudnnBackendDescriptor_t get() const { return mDesc; }

    //! Sets attribute `name` to `count` values of `type`; `what` names the attribute in the error.
    Status set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values,
               const char* what);
    Status setInts(cudnnBackendAttributeName_t name, const std::vector<int64_t>& values, const char* what) {
        return set(name, CUDNN_TYPE_INT64, static_cast<int64_t>(values.size()), values.data(), what);
    }
    Status setDesc(cudnnBackendAttributeName_t name, const BackendDesc& d, const char* what) {
        const cudnnBackendDescriptor_t raw = d.get();
        return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw, what);
    }
    //! kUnsupported (cuDNN's refusal) or kInternal, with cuDNN's last error message.
    Status finalize(const char* what);

private:
    cudnnBackendDescriptor_t mDesc = nullptr;
};

//! A backend call's status as a Kiln Status: cuDNN's NOT_SUPPORTED category is kUnsupported (a refusal), the rest
//! kInternal; the message names `what` and carries cuDNN's own last error text.
Status backendStatus(cudnnStatus_t st, const std::string& what);

//! The unique ids of the graph's real tensors in the variant pack.
enum GraphTensorId : int64_t { kGraphX = 1, kGraphW = 2, kGraphBias = 3, kGraphZ = 4, kGraphY = 5 };

//! The finalized operation graph of one fused problem and every descriptor it references (kept alive with it).
struct FusedConvGraph {
    std::vector<BackendDesc> parts;
    BackendDesc graph;
};

//! y = relu?(conv(x, w) + bias [+ z]) as a cuDNN operation graph on `handle`: NHWC strides, KRSC filters, 16-byte
//! aligned tensors, FP32 virtual intermediates. kUnsupported when cuDNN refuses the graph.
Result<FusedConvGraph> buildFusedConvGraph(cudnnHandle_t handle, const CudnnConvProblem& p, bool hasZ, bool relu);

//! A config: an engine's global index and its knob choices (knob type, value).
struct GraphConfig {
    int64_t engine = -1;
    std::vector<std::pair<int64_t, int64_t>> knobs;
    bool operator==(const GraphConfig&) const = default;
};

//! The configs cuDNN's heuristics rank for `graph` (mode A, then the fallback list; deduplicated, in order), at most
//! `max`. Empty when cuDNN has none.
Result<std::vector<GraphConfig>> rankGraphConfigs(const FusedConvGraph& graph, size_t max);

//! One knob of an engine: the values min, min + stride, ..., max that cuDNN says it takes.
struct KnobRange {
    int64_t type = 0, min = 0, max = 0, stride = 1;
};
//! The knobs engine `engine` (a global index) has for `graph`; kUnsupported when the engine does not apply.
Result<std::vector<KnobRange>> engineKnobRanges(const FusedConvGraph& graph, int64_t engine);

//! An execution plan of `graph` for `config` on `handle`, with the workspace it needs.
struct GraphPlan {
    std::vector<BackendDesc> parts;  //!< Engine, knob choices, engine config.
    BackendDesc plan;
    size_t workspace = 0;
};
//! kUnsupported when cuDNN refuses the config (its engine or knobs do not apply, or the plan does not finalize).
Result<GraphPlan> buildGraphPlan(cudnnHandle_t handle, const FusedConvGraph& graph, const GraphConfig& config);

//! A graph tactic's text: "graph engine=<global index> knobs=<type:value,...> workspace=<bytes>".
struct GraphTactic {
    GraphConfig config;
    size_t workspace = 0;
};
std::string encodeGraphTactic(const GraphTactic& t);
//! The tactic of `text`; nullopt unless it is exactly what encodeGraphTactic writes.
std::optional<GraphTactic> decodeGraphTactic(const std::string& text);

}  // namespace kiln::cuda
