#include "backends/cuda/executor.h"

#include <cuda_runtime.h>

#include "backends/cpu/executor.h"
#include "backends/cpu/kernel.h"
#include "backends/cuda/check.h"
#include "ir/graph_edit.h"

namespace kiln::cuda {

namespace {

//! The ops whose CUDA kernels call cuDNN / cuBLASLt (kernel.h: RunState's handles are null otherwise).
bool usesCudnn(ir::OpKind op) {
    switch (op) {
        case ir::OpKind::kConv:
        case ir::OpKind::kConvTranspose:
        case ir::OpKind::kFusedConv:
        case ir::OpKind::kFusedConvNhwc:
        case ir::OpKind::kConvTransposeNhwc:
        case ir::OpKind::kMaxPool:
        case ir::OpKind::kAveragePool:
        case ir::OpKind::kLpPool:
        case ir::OpKind::kLRN:
        case ir::OpKind::kBatchNormalization:
        case ir::OpKind::kInstanceNormalization: return true;
        default: return false;
    }
}

bool usesCublasLt(ir::OpKind op) {
    switch (op) {
        case ir::OpKind::kConvTransposeNhwc:  // kernels/conv_transpose_gemm.h
        case ir::OpKind::kMatMul:
        case ir::OpKind::kGemm:
        case ir::OpKind::kFusedGemm:
        case ir::OpKind::kFusedMatMul:
        case ir::OpKind::kEinsum: return true;
        default: return false;
    }
}

Result<DeviceTensor> uploadToArena(const Tensor& host, RunState& st) {
    if (host.dtype() == DataType::kString) return unsupported("string tensors cannot be moved to the GPU");
    DeviceTensor t;
    t.dtype = host.dtype();
    t.shape = host.shape();
    if (host.byteSize() > 0) {
        KILN_ASSIGN_OR_RETURN(void* p, st.arena->allocate(host.byteSize()));
        DeviceArena* arena = st.arena;
        t.data = p;
        t.storage = std::shared_ptr<void>(p, [arena](void* q) { arena->free(q); });
        // From pageable memory this returns once the bytes are staged, so `host` may be released afterwards.
        KILN_CUDA_CHECK(cudaMemcpyAsync(p, host.raw(), host.byteSize(), cudaMemcpyHostToDevice, st.stream));
    }
    return t;
}

Result<Tensor> downloadToHost(const DeviceTensor& dev, cudaStream_t stream) {
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dev.dtype, dev.shape));
    if (t.byteSize() > 0) {
        KILN_CUDA_CHECK(cudaMemcpyAsync(t.raw(), dev.data, t.byteSize(), cudaMemcpyDeviceToHost, stream));
        KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    return t;
}

//! The values of one run, each on the device, the host or both (copied lazily where a reader needs it).
class RunValues {
public:
    RunValues(const ExecutionPlan& plan, RunState& st) : mPlan(plan), mState(st) {
        // Sized once per run, so that the hot loop does not rehash as values come and go.
        mSlots.reserve(plan.graph().values().size());
    }

    void setDevice(const ir::Value* v, DeviceTensor t) {
        Slot& s = mSlots[v];
        s.dev = std::move(t);
        s.onDev = true;
    }
    void setHost(const ir::Value* v, Tensor t) {
        Slot& s = mSlots[v];
        s.host = std::move(t);
        s.onHost = true;
    }
    void release(const ir::Value* v) { mSlots.erase(v); }

    Result<const DeviceTensor*> device(const ir::Value* v) {
        if (v->isConstant()) {
            if (const DeviceTensor* c = mPlan.deviceConstant(v)) return c;
        }
        Slot& s = mSlots[v];
        if (s.onDev) return &s.dev;
        if (!s.onHost && !v->isConstant()) return internalError("value '" + v->name() + "' has no data");
        KILN_ASSIGN_OR_RETURN(s.dev, uploadToArena(s.onHost ? s.host : v->constant(), mState));
        s.onDev = true;
        return &s.dev;
    }

    Result<const Tensor*> host(const ir::Value* v) {
        if (v->isConstant()) return &v->constant();
        auto it = mSlots.find(v);
        if (it == mSlots.end()) return internalError("value '" + v->name() + "' has no data");
        Slot& s = it->second;
        if (!s.onHost) {
            KILN_ASSIGN_OR_RETURN(s.host, downloadToHost(s.dev, mState.stream));
            s.onHost = true;
        }
        return &s.host;
    }

    //! A graph output where it is: on the device if it is there (or a constant), else on the host.
    Result<RunValue> output(const ir::Value* v) {
        RunValue r;
        auto it = mSlots.find(v);
        if (it != mSlots.end() && !it->second.onDev && it->second.onHost) {
            r.onHost = true;
            r.host = it->second.host;
            return r;
        }
        if (v->isConstant() && v->constant().dtype() == DataType::kString) {
            r.onHost = true;
            r.host = v->constant();
            return r;
        }
        KILN_ASSIGN_OR_RETURN(const DeviceTensor* d, device(v));
        r.device = *d;
        return r;
    }

    Result<std::pair<DataType, Shape>> typeAndShape(const ir::Value* v) const {
        if (v->isConstant()) return std::make_pair(v->constant().dtype(), v->constant().shape());
        auto it = mSlots.find(v);
        if (it == mSlots.end()) return internalError("value '" + v->name() + "' has no data");
        if (it->second.onDev) return std::make_pair(it->second.dev.dtype, it->second.dev.shape);
        return std::make_pair(it->second.host.dtype(), it->second.host.shape());
    }

private:
    struct Slot {
        DeviceTensor dev;
        Tensor host;
        bool onDev = false;
        bool onHost = false;
    };
    const ExecutionPlan& mPlan;
    RunState& mState;
    std::unordered_map<const ir::Value*, Slot> mSlots;
};

//! Templated rather than std::function: it runs for every node of every enqueue.
template <typename TypeOf, typename Defined>
Status checkOutputs(const ir::Node& node, size_t count, const TypeOf& typeOf, const Defined& defined) {
    for (size_t o = 0; o < count; ++o) {
        const ir::Value* out = node.output(o);
        if (out == nullptr) continue;
        if (!defined(o)) return internalError("kernel did not produce output " + std::to_string(o));
        if (out->dtype() != DataType::kUndefined && out->dtype() != typeOf(o)) {
            return internalError(std::string("kernel produced ") + dataTypeName(typeOf(o)) + " for output '" +
                                 out->name() + "', the model declares " + dataTypeName(out->dtype()));
        }
    }
    return Status::ok();
}

//! Shape / Size: the CPU kernel reads only the input's shape, so it gets a data-less view of it.
Status runMeta(const ir::Node& node, RunValues& values) {
    KILN_ASSIGN_OR_RETURN(auto ts, values.typeAndShape(node.input(0)));
    const Tensor shapeOnly = Tensor::wrap(ts.first, ts.second, nullptr);
    cpu::KernelContext ctx{node, {&shapeOnly}, {}, {}};
    ctx.outputs.resize(node.outputs().size());
    KILN_RETURN_IF_ERROR(cpu::cpuKernel(node.op())(ctx));
    values.setHost(node.output(0), std::move(ctx.outputs[0]));
    return Status::ok();
}

Status runOnHost(const ir::Node& node, RunValues& values) {
    cpu::KernelContext ctx{node, {}, {}, {}};
    for (const ir::Value* in : node.inputs()) {
        if (in == nullptr) {
            ctx.inputs.push_back(nullptr);
            continue;
        }
        KILN_ASSIGN_OR_RETURN(const Tensor* t, values.host(in));
        ctx.inputs.push_back(t);
    }
    // Subgraph bodies run on the CPU reference executor; what they capture from this graph comes to the host.
    cpu::Scope outer;
    if (ir::hasSubgraphs(node)) {
        for (const ir::Value* v : cpu::nodeCaptures(node)) {
            if (v->isConstant()) continue;
            KILN_ASSIGN_OR_RETURN(const Tensor* t, values.host(v));
            outer.values[v] = *t;
        }
    }
    ctx.runSubgraph = [&outer](const ir::Graph& g, const std::vector<Tensor>& in) {
        return cpu::Executor().run(g, in, &outer);
    };
    ctx.outputs.resize(node.outputs().size());
    KILN_RETURN_IF_ERROR(cpu::cpuKernel(node.op())(ctx));
    KILN_RETURN_IF_ERROR(checkOutputs(
        node, ctx.outputs.size(), [&](size_t o) { return ctx.outputs[o].dtype(); },
        [&](size_t o) { return ctx.outputs[o].defined(); }));
    for (size_t o = 0; o < node.outputs().size(); ++o) {
        if (node.output(o)) values.setHost(node.output(o), std::move(ctx.outputs[o]));
    }
    return Status::ok();
}

Status runOnDevice(const ir::Node& node, RunValues& values, RunState& st) {
    const CudaOpEntry& entry = cudaKernel(node.op());
    CudaKernelContext ctx{node, st, {}, {}, {}, {}};
    ctx.inputs.reserve(node.inputs().size());
    ctx.hostInputs.reserve(node.inputs().size());
    for (size_t i = 0; i < node.inputs().size(); ++i) {
        const ir::Value* in = node.input(i);
        const bool onHost = i < 32 && (entry.hostInputs >> i & 1u);
        ctx.inputs.push_back(nullptr);
        ctx.hostInputs.push_back(nullptr);
        if (in == nullptr) continue;
        if (onHost) {
            KILN_ASSIGN_OR_RETURN(ctx.hostInputs.back(), values.host(in));
        } else {
            KILN_ASSIGN_OR_RETURN(ctx.inputs.back(), values.device(in));
        }
    }
    ctx.outputs.resize(node.outputs().size());
    KILN_RETURN_IF_ERROR(entry.fn(ctx));
    KILN_RETURN_IF_ERROR(checkOutputs(
        node, ctx.outputs.size(), [&](size_t o) { return ctx.outputs[o].dtype; },
        [&](size_t o) { return ctx.outputs[o].defined(); }));
    for (size_t o = 0; o < node.outputs().size(); ++o) {
        if (node.output(o)) values.setDevice(node.output(o), std::move(ctx.outputs[o]));
    }
    return Status::ok();
}

}  // namespace

Result<std::shared_ptr<const ExecutionPlan>> ExecutionPlan::create(const ir::Graph& graph) {
    std::shared_ptr<ExecutionPlan> plan(new ExecutionPlan(graph));
    const auto& nodes = graph.nodes();
    plan->mNodes = placeNodes(graph);
    plan->mShapeOnly = analyzeShapeOnly(graph, plan->mNodes);
    plan->mKept.insert(plan->mShapeOnly.kept.begin(), plan->mShapeOnly.kept.end());
    plan->mVerdict = cuda::captureVerdict(graph, plan->mNodes, plan->mShapeOnly);
    for (size_t i = 0; i < nodes.size(); ++i) {
        const ir::Node& n = *nodes[i];
        if (plan->placement(i) == Placement::kDevice) {
            plan->mNeedsCudnn |= usesCudnn(n.op());
            plan->mNeedsCublasLt |= usesCublasLt(n.op());
        }
        for (const ir::Value* in : n.inputs()) {
            if (in) plan->mLastUse[in] = i;
        }
        for (const ir::Value* v : cpu::nodeCaptures(n)) plan->mLastUse[v] = i;
    }
    for (const ir::Value* out : graph.outputs()) plan->mLastUse[out] = SIZE_MAX;

    // Constants that device kernels read on the device, and constant graph outputs (copied to the output's
    // binding from the device, so that an enqueue stays capturable), are uploaded once for every context.
    std::vector<const ir::Value*> deviceConstants;
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (plan->placement(i) != Placement::kDevice) continue;
        const ir::Node& n = *nodes[i];
        const uint32_t hostMaskBits = cudaKernel(n.op()).hostInputs;
        for (size_t k = 0; k < n.inputs().size(); ++k) {
            if (!(k < 32 && (hostMaskBits >> k & 1u))) deviceConstants.push_back(n.input(k));
        }
    }
    deviceConstants.insert(deviceConstants.end(), graph.outputs().begin(), graph.outputs().end());
    for (const ir::Value* in : deviceConstants) {
        if (!in || !in->isConstant() || plan->mConstants.count(in)) continue;
        const Tensor& c = in->constant();
        if (c.dtype() == DataType::kString) continue;
        DeviceTensor t;
        t.dtype = c.dtype();
        t.shape = c.shape();
        if (c.byteSize() > 0) {
            KILN_ASSIGN_OR_RETURN(DeviceBuffer buf, DeviceBuffer::allocate(c.byteSize()));
            KILN_CUDA_CHECK(cudaMemcpy(buf.data(), c.raw(), c.byteSize(), cudaMemcpyHostToDevice));
            t.data = buf.data();
            plan->mConstantBytes += c.byteSize();
            plan->mConstantStorage.push_back(std::move(buf));
        }
        plan->mConstants.emplace(in, std::move(t));
    }
    return std::shared_ptr<const ExecutionPlan>(std::move(plan));
}

size_t ExecutionPlan::lastUse(const ir::Value* v) const {
    auto it = mLastUse.find(v);
    return it == mLastUse.end() ? 0 : it->second;
}

const DeviceTensor* ExecutionPlan::deviceConstant(const ir::Value* v) const {
    auto it = mConstants.find(v);
    return it == mConstants.end() ? nullptr : &it->second;
}

namespace {

//! Keeps the kept shape-only outputs of node `node` (host tensors; shared storage, never written again).
void recordShapeValues(const ExecutionPlan& plan, const ir::Node& node, RunValues& values,
                       std::vector<std::pair<const ir::Value*, Tensor>>& into) {
    for (const ir::Value* out : node.outputs()) {
        if (!out || !plan.isKeptShapeValue(out)) continue;
        if (auto t = values.host(out)) into.emplace_back(out, **t);
    }
}

//! The device copies of the recorded values, in buffers of their own (stream-ordered after this run's work).
Status uploadShapeValues(std::vector<DeviceTensor>& device, std::vector<DeviceBuffer>& storage,
                         const std::vector<std::pair<const ir::Value*, Tensor>>& host, cudaStream_t stream) {
    for (const auto& [v, t] : host) {
        DeviceTensor d;
        if (t.dtype() != DataType::kString) {
            d.dtype = t.dtype();
            d.shape = t.shape();
            if (t.byteSize() > 0) {
                KILN_ASSIGN_OR_RETURN(DeviceBuffer buf, DeviceBuffer::allocate(t.byteSize()));
                // Pageable source: staged before the call returns; the tensor stays in the cache anyway.
                KILN_CUDA_CHECK(cudaMemcpyAsync(buf.data(), t.raw(), t.byteSize(), cudaMemcpyHostToDevice, stream));
                d.data = buf.data();
                storage.push_back(std::move(buf));
            }
        }
        device.push_back(std::move(d));
    }
    return Status::ok();
}

}  // namespace

Result<std::vector<RunValue>> Executor::run(RunState& state, const std::vector<RunValue>& inputs,
                                            ShapeValues* shapeValues) const {
    const ir::Graph& graph = mPlan.graph();
    if (inputs.size() != graph.inputs().size()) {
        return invalidArgument("the graph takes " + std::to_string(graph.inputs().size()) + " inputs, got " +
                               std::to_string(inputs.size()));
    }
    RunValues values(mPlan, state);
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i].onHost) {
            values.setHost(graph.inputs()[i], inputs[i].host);
        } else {
            values.setDevice(graph.inputs()[i], inputs[i].device);
        }
    }
    const bool reuse = shapeValues != nullptr && shapeValues->ready();
    const bool record = shapeValues != nullptr && !reuse;
    std::vector<std::pair<const ir::Value*, Tensor>> recorded;
    if (reuse) {
        for (size_t k = 0; k < shapeValues->mHost.size(); ++k) {
            const auto& [v, t] = shapeValues->mHost[k];
            values.setHost(v, t);
            if (shapeValues->mDevice[k].defined()) values.setDevice(v, shapeValues->mDevice[k]);
        }
    }
    const std::vector<bool>& shapeOnly = mPlan.shapeOnly().node;
    const auto& nodes = graph.nodes();
    for (size_t i = 0; i < nodes.size(); ++i) {
        const ir::Node& node = *nodes[i];
        Status s;
        // A skipped shape-only node still gets its (empty) timing, so that a profiler sees every layer.
        if (state.timer) s = state.timer->begin(i, state.stream);
        try {
            if (s.isOk() && !(reuse && shapeOnly[i])) {
                switch (mPlan.placement(i)) {
                    case Placement::kMeta: s = runMeta(node, values); break;
                    case Placement::kHost: s = runOnHost(node, values); break;
                    case Placement::kDevice: s = runOnDevice(node, values, state); break;
                }
                if (s.isOk() && record && shapeOnly[i]) recordShapeValues(mPlan, node, values, recorded);
            }
            if (s.isOk() && state.timer) s = state.timer->end(i, state.stream);
        } catch (const std::bad_alloc&) {
            s = outOfRange("out of host memory");
        } catch (const std::exception& e) {
            s = internalError(std::string("unexpected exception: ") + e.what());
        }
        if (!s.isOk()) return s.withContext(node.describe());
        for (const ir::Value* in : node.inputs()) {
            if (in && !in->isConstant() && mPlan.lastUse(in) == i) values.release(in);
        }
    }
    std::vector<RunValue> outputs;
    for (const ir::Value* out : graph.outputs()) {
        KILN_ASSIGN_OR_RETURN(outputs.emplace_back(), values.output(out));
    }
    if (record) {
        std::vector<DeviceTensor> device;
        std::vector<DeviceBuffer> storage;
        KILN_RETURN_IF_ERROR(uploadShapeValues(device, storage, recorded, state.stream));
        shapeValues->mHost = std::move(recorded);
        shapeValues->mDevice = std::move(device);
        shapeValues->mStorage = std::move(storage);
        shapeValues->mReady = true;
    }
    return outputs;
}

}  // namespace kiln::cuda
