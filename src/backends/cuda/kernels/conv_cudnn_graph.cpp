#include "backends/cuda/kernels/conv_cudnn_graph.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/aligned.h"
#include "backends/cuda/kernels/conv_cudnn_graph_build.h"
#include "backends/cuda/kernels/conv_gemm_common.h"

namespace kiln::cuda {

namespace {

std::atomic<uint64_t> gGraphRuns{0};

//! This file's cuDNN handle for one device, with the mutex that serializes its use.
struct DeviceHandle {
    std::mutex mutex;
    cudnnHandle_t handle = nullptr;
};

//! The handle of the current device, created on first use and kept for the life of the process: cached plans
//! reference it.
Result<DeviceHandle*> deviceHandle() {
    static std::mutex mutex;
    static auto* handles = new std::map<int, std::unique_ptr<DeviceHandle>>();  // never destroyed: see above
    const int device = currentDevice();
    std::lock_guard<std::mutex> lock(mutex);
    std::unique_ptr<DeviceHandle>& h = (*handles)[device];
    if (!h) {
        auto created = std::make_unique<DeviceHandle>();
        KILN_CUDNN_CHECK(cudnnCreate(&created->handle));
        h = std::move(created);
    }
    return h.get();
}

//! One problem's graph, ranked configs and plans. `mutex` guards everything below it.
struct ProblemPlans {
    std::mutex mutex;
    bool ready = false;
    std::optional<FusedConvGraph> graph;  //!< Empty when cuDNN refuses the graph.
    std::vector<GraphConfig> ranked;
    //! Keyed by the config's tactic text without workspace; null: cuDNN refused the config.
    std::map<std::string, std::shared_ptr<const GraphPlan>> plans;
};

AlgoCache<ProblemPlans>& planCache() {
    // Never destroyed: destroying plans of runtime-compiled engines after the CUDA context is gone is not safe.
    static auto* cache = new AlgoCache<ProblemPlans>();
    return *cache;
}

CacheKey graphKey(const CudnnConvProblem& p, bool hasZ, bool relu) {
    CacheKey key;
    key.add(currentDevice()).add(static_cast<int64_t>(p.dtype)).add(hasZ ? 1 : 0).add(relu ? 1 : 0);
    for (int i = 0; i < 4; ++i) key.add(p.in[i]).add(p.filter[i]).add(p.out[i]);
    for (int i = 0; i < 2; ++i) key.add(p.pad[i]).add(p.stride[i]).add(p.dilation[i]);
    return key;
}

//! The problem's entry, its graph built and its configs ranked on first use.
Result<std::shared_ptr<ProblemPlans>> problemPlans(const CudnnConvProblem& p, bool hasZ, bool relu) {
    const CacheKey key = graphKey(p, hasZ, relu);
    std::shared_ptr<ProblemPlans> entry = planCache().find(key);
    if (!entry) entry = planCache().insert(key, std::make_shared<ProblemPlans>());
    std::lock_guard<std::mutex> lock(entry->mutex);
    if (entry->ready) return entry;
    KILN_ASSIGN_OR_RETURN(DeviceHandle * h, deviceHandle());
    std::lock_guard<std::mutex> handleLock(h->mutex);
    Result<FusedConvGraph> graph = buildFusedConvGraph(h->handle, p, hasZ, relu);
    if (graph) {
        KILN_ASSIGN_OR_RETURN(entry->ranked, rankGraphConfigs(*graph, kMaxGraphConfigs));
        entry->graph = std::move(graph).value();
    } else if (graph.status().code() != ErrorCode::kUnsupported) {
        return graph.status();
    }
    entry->ready = true;
    return entry;
}

std::string configKey(const GraphConfig& c) { return encodeGraphTactic(GraphTactic{c, 0}); }

//! The plan of `config`, built on first use; null when cuDNN refuses it (any failure to finalize is a refusal: the
//! config is skipped, the others remain).
Result<std::shared_ptr<const GraphPlan>> planFor(ProblemPlans& entry, const GraphConfig& config) {
    std::lock_guard<std::mutex> lock(entry.mutex);
    if (!entry.graph) return std::shared_ptr<const GraphPlan>();
    const std::string key = configKey(config);
    if (auto it = entry.plans.find(key); it != entry.plans.end()) return it->second;
    KILN_ASSIGN_OR_RETURN(DeviceHandle * h, deviceHandle());
    std::lock_guard<std::mutex> handleLock(h->mutex);
    Result<GraphPlan> built = buildGraphPlan(h->handle, *entry.graph, config);
    std::shared_ptr<const GraphPlan> plan;
    if (built) plan = std::make_shared<const GraphPlan>(std::move(built).value());
    entry.plans[key] = plan;
    return plan;
}

//! Enqueues `plan` on ctx's stream with `workspace`; kUnsupported when cuDNN refuses to run it.
Status executePlan(CudaKernelContext& ctx, const GraphPlan& plan, const FusedConvOperands& ops, void* workspace) {
    std::vector<int64_t> ids{kGraphX, kGraphW, kGraphBias, kGraphY};
    std::vector<void*> ptrs{const_cast<void*>(ops.in), const_cast<void*>(ops.filter), const_cast<void*>(ops.bias),
                            ops.out};
    if (ops.z) {
        ids.push_back(kGraphZ);
        ptrs.push_back(const_cast<void*>(ops.z));
    }
    KILN_ASSIGN_OR_RETURN(BackendDesc pack, BackendDesc::create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack"));
    const auto n = static_cast<int64_t>(ids.size());
    KILN_RETURN_IF_ERROR(pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, ids.data(), "UNIQUE_IDS"));
    KILN_RETURN_IF_ERROR(
        pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs.data(), "DATA_POINTERS"));
    KILN_RETURN_IF_ERROR(pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace, "WORKSPACE"));
    KILN_RETURN_IF_ERROR(pack.finalize("variant pack"));
    KILN_ASSIGN_OR_RETURN(DeviceHandle * h, deviceHandle());
    std::lock_guard<std::mutex> lock(h->mutex);
    KILN_CUDNN_CHECK(cudnnSetStream(h->handle, ctx.stream()));
    KILN_RETURN_IF_ERROR(backendStatus(cudnnBackendExecute(h->handle, plan.plan.get(), pack.get()),
                                       "cudnnBackendExecute(fused convolution plan)"));
    gGraphRuns.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

}  // namespace

uint64_t cudnnGraphConvRuns() { return gGraphRuns.load(std::memory_order_relaxed); }

bool graphConvApplies(const GraphConvCall& call) {
    const FusedConvOperands& o = call.ops;
    return graphConvServes(call.p) && aligned16(o.in) && aligned16(o.filter) && aligned16(o.bias) && aligned16(o.z) &&
           aligned16(o.out) && o.bias != nullptr;
}

Result<TacticCandidates> graphConvCandidates(CudaKernelContext& ctx, const GraphConvCall& call) {
    TacticCandidates t;
    if (!graphConvApplies(call)) return t;
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<ProblemPlans> entry, problemPlans(call.p, call.ops.z != nullptr, call.relu));
    // The timer asks workspace(i), then run(i), then encode(i): each builds (once) or finds the plan. A failure to
    // build is a refusal here, so workspace() reports 0 and run() kUnsupported.
    auto plan = [entry](size_t i) -> std::shared_ptr<const GraphPlan> {
        Result<std::shared_ptr<const GraphPlan>> p = planFor(*entry, entry->ranked[i]);
        return p ? *p : nullptr;
    };
    t.count = entry->ranked.size();
    t.workspace = [plan](size_t i) {
        const std::shared_ptr<const GraphPlan> p = plan(i);
        return p ? p->workspace : 0;
    };
    t.run = [plan, entry, &ctx, call](size_t i, void* ws) -> Status {
        const std::shared_ptr<const GraphPlan> p = plan(i);
        if (!p) return unsupported("cuDNN refused the graph config " + configKey(entry->ranked[i]));
        if (p->workspace > call.budget) return unsupported("cuDNN graph engine config needs too much workspace");
        return executePlan(ctx, *p, call.ops, ws);
    };
    t.encode = [plan, entry](size_t i) {
        const std::shared_ptr<const GraphPlan> p = plan(i);
        return encodeGraphTactic(GraphTactic{entry->ranked[i], p ? p->workspace : 0});
    };
    return t;
}

Result<bool> runGraphConvTactic(CudaKernelContext& ctx, const GraphConvCall& call, const std::string& tactic) {
    const std::optional<GraphTactic> decoded = decodeGraphTactic(tactic);
    if (!decoded || !graphConvApplies(call)) return false;
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<ProblemPlans> entry, problemPlans(call.p, call.ops.z != nullptr, call.relu));
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const GraphPlan> plan, planFor(*entry, decoded->config));
    if (!plan || plan->workspace > call.budget) return false;
    KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(plan->workspace));
    const Status st = executePlan(ctx, *plan, call.ops, ws);
    if (st.code() == ErrorCode::kUnsupported) return false;
    KILN_RETURN_IF_ERROR(st);
    return true;
}

Result<std::vector<std::string>> graphConvTactics(const CudnnConvProblem& p, bool hasZ, bool relu, size_t budget,
                                                  size_t max) {
    std::vector<std::string> out;
    if (!graphConvServes(p)) return out;
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<ProblemPlans> entry, problemPlans(p, hasZ, relu));
    for (const GraphConfig& c : entry->ranked) {
        if (out.size() >= max) break;
        KILN_ASSIGN_OR_RETURN(std::shared_ptr<const GraphPlan> plan, planFor(*entry, c));
        if (plan && plan->workspace <= budget) out.push_back(encodeGraphTactic(GraphTactic{c, plan->workspace}));
    }
    return out;
}

Result<std::vector<std::string>> graphConvKnobNeighbours(const CudnnConvProblem& p, bool hasZ, bool relu,
                                                         const std::string& tactic, size_t perKnob) {
    std::vector<std::string> out;
    const std::optional<GraphTactic> base = decodeGraphTactic(tactic);
    if (!base || !graphConvServes(p) || perKnob == 0) return out;
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<ProblemPlans> entry, problemPlans(p, hasZ, relu));
    std::vector<KnobRange> ranges;
    {
        std::lock_guard<std::mutex> lock(entry->mutex);
        if (!entry->graph) return out;
        Result<std::vector<KnobRange>> got = engineKnobRanges(*entry->graph, base->config.engine);
        if (!got)
            return got.status().code() == ErrorCode::kUnsupported ? Result<std::vector<std::string>>(out)
                                                                  : Result<std::vector<std::string>>(got.status());
        ranges = std::move(got).value();
    }
    for (const KnobRange& r : ranges) {
        const int64_t steps = (r.max - r.min) / r.stride + 1;
        const int64_t every =
            std::max<int64_t>(1, (steps + static_cast<int64_t>(perKnob) - 1) / static_cast<int64_t>(perKnob));
        for (int64_t s = 0; s < steps; s += every) {
            GraphConfig c = base->config;
            const int64_t value = r.min + s * r.stride;
            bool found = false, same = false;
            for (auto& [type, v] : c.knobs) {
                if (type != r.type) continue;
                found = true;
                same = v == value;
                v = value;
            }
            if (same) continue;
            if (!found) c.knobs.emplace_back(r.type, value);
            out.push_back(encodeGraphTactic(GraphTactic{c, 0}));
        }
    }
    return out;
}

}  // namespace kiln::cuda
