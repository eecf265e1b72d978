#include "backends/cuda/kernels/conv_cudnn_graph_build.h"

#include <array>
#include <charconv>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_cudnn_graph.h"

namespace kiln::cuda {

BackendDesc::~BackendDesc() {
    if (mDesc) static_cast<void>(cudnnBackendDestroyDescriptor(mDesc));
}

BackendDesc& BackendDesc::operator=(BackendDesc&& o) noexcept {
    if (this != &o) {
        if (mDesc) static_cast<void>(cudnnBackendDestroyDescriptor(mDesc));
        mDesc = std::exchange(o.mDesc, nullptr);
    }
    return *this;
}

Status backendStatus(cudnnStatus_t st, const std::string& what) {
    if (st == CUDNN_STATUS_SUCCESS) return Status::ok();
    char detail[512] = {0};
    cudnnGetLastErrorString(detail, sizeof(detail));
    std::string name = what;
    if (detail[0] != '\0') name += std::string(" (") + detail + ")";
    return cudnnFailure(st, name.c_str());
}

Result<BackendDesc> BackendDesc::create(cudnnBackendDescriptorType_t type, const char* what) {
    BackendDesc d;
    KILN_RETURN_IF_ERROR(backendStatus(cudnnBackendCreateDescriptor(type, &d.mDesc),
                                       std::string("cudnnBackendCreateDescriptor(") + what + ")"));
    return d;
}

Status BackendDesc::set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
                        const void* values, const char* what) {
    return backendStatus(cudnnBackendSetAttribute(mDesc, name, type, count, values),
                         std::string("cudnnBackendSetAttribute(") + what + ")");
}

Status BackendDesc::finalize(const char* what) {
    return backendStatus(cudnnBackendFinalize(mDesc), std::string("cudnnBackendFinalize(") + what + ")");
}

namespace {

// The byte alignment the graph declares for every real tensor; conv_cudnn_graph.cpp refuses pointers that lack it.
constexpr int64_t kAlignment = 16;
// Virtual intermediates of the graph (not in the variant pack).
constexpr int64_t kConvOutId = 6, kBiasOutId = 7, kResidualOutId = 8;

cudnnDataType_t dataTypeOf(DataType t) { return t == DataType::kBFloat16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF; }

//! Strides of a channels-last tensor whose dims are given in NCHW order (cuDNN's dimension order).
std::vector<int64_t> channelsLastStrides(const std::vector<int64_t>& d) {
    return {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
}

Result<BackendDesc> makeTensor(int64_t uid, cudnnDataType_t type, const std::vector<int64_t>& dims, bool isVirtual) {
    KILN_ASSIGN_OR_RETURN(BackendDesc t, BackendDesc::create(CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor"));
    const int64_t align = kAlignment;
    const bool virt = isVirtual;
    KILN_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "TENSOR_DATA_TYPE"));
    KILN_RETURN_IF_ERROR(t.setInts(CUDNN_ATTR_TENSOR_DIMENSIONS, dims, "TENSOR_DIMENSIONS"));
    KILN_RETURN_IF_ERROR(t.setInts(CUDNN_ATTR_TENSOR_STRIDES, channelsLastStrides(dims), "TENSOR_STRIDES"));
    KILN_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "TENSOR_UNIQUE_ID"));
    KILN_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, "TENSOR_BYTE_ALIGNMENT"));
    KILN_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt, "TENSOR_IS_VIRTUAL"));
    KILN_RETURN_IF_ERROR(t.finalize("tensor"));
    return t;
}

//! y = mode(x [, b]) in FP32 math, appended to `g.parts`; returns the operation.
Result<BackendDesc> makePointwise(FusedConvGraph& g, cudnnPointwiseMode_t mode, const BackendDesc& x,
                                  const BackendDesc* b, const BackendDesc& y) {
    KILN_ASSIGN_OR_RETURN(BackendDesc pw, BackendDesc::create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise"));
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    KILN_RETURN_IF_ERROR(pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "POINTWISE_MODE"));
    KILN_RETURN_IF_ERROR(pw.set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, "POINTWISE_MATH_PREC"));
    KILN_RETURN_IF_ERROR(pw.finalize("pointwise"));
    KILN_ASSIGN_OR_RETURN(BackendDesc op,
                          BackendDesc::create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise operation"));
    KILN_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw, "OPERATION_POINTWISE_PW"));
    KILN_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x, "OPERATION_POINTWISE_XDESC"));
    if (b) {
        KILN_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b, "OPERATION_POINTWISE_BDESC"));
    }
    KILN_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y, "OPERATION_POINTWISE_YDESC"));
    KILN_RETURN_IF_ERROR(op.finalize("pointwise operation"));
    g.parts.push_back(std::move(pw));
    return op;
}

Result<BackendDesc> makeConvolution(FusedConvGraph& g, const CudnnConvProblem& p, const BackendDesc& x,
                                    const BackendDesc& w, const BackendDesc& y) {
    KILN_ASSIGN_OR_RETURN(BackendDesc conv, BackendDesc::create(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, "convolution"));
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    const int64_t spatial = 2;
    const std::vector<int64_t> pad{p.pad[0], p.pad[1]}, stride{p.stride[0], p.stride[1]};
    const std::vector<int64_t> dilation{p.dilation[0], p.dilation[1]};
    KILN_RETURN_IF_ERROR(
        conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute, "CONVOLUTION_COMP_TYPE"));
    KILN_RETURN_IF_ERROR(
        conv.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode, "CONVOLUTION_CONV_MODE"));
    KILN_RETURN_IF_ERROR(
        conv.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial, "CONVOLUTION_SPATIAL_DIMS"));
    KILN_RETURN_IF_ERROR(conv.setInts(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, pad, "CONVOLUTION_PRE_PADDINGS"));
    KILN_RETURN_IF_ERROR(conv.setInts(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, pad, "CONVOLUTION_POST_PADDINGS"));
    KILN_RETURN_IF_ERROR(conv.setInts(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, stride, "CONVOLUTION_FILTER_STRIDES"));
    KILN_RETURN_IF_ERROR(conv.setInts(CUDNN_ATTR_CONVOLUTION_DILATIONS, dilation, "CONVOLUTION_DILATIONS"));
    KILN_RETURN_IF_ERROR(conv.finalize("convolution"));
    KILN_ASSIGN_OR_RETURN(BackendDesc op, BackendDesc::create(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                                                              "convolution forward operation"));
    const float alpha = 1.0f, beta = 0.0f;
    KILN_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x, "CONVOLUTION_FORWARD_X"));
    KILN_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w, "CONVOLUTION_FORWARD_W"));
    KILN_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, y, "CONVOLUTION_FORWARD_Y"));
    KILN_RETURN_IF_ERROR(
        op.setDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv, "CONVOLUTION_FORWARD_CONV_DESC"));
    KILN_RETURN_IF_ERROR(op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha,
                                "CONVOLUTION_FORWARD_ALPHA"));
    KILN_RETURN_IF_ERROR(
        op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta, "CONVOLUTION_FORWARD_BETA"));
    KILN_RETURN_IF_ERROR(op.finalize("convolution forward operation"));
    g.parts.push_back(std::move(conv));
    return op;
}

std::vector<int64_t> dims4(const std::array<int, 5>& d) { return {d[0], d[1], d[2], d[3]}; }

}  // namespace

bool graphConvServes(const CudnnConvProblem& p) {
    return p.channelsLast && p.nbDims == 4 && p.group == 1 &&
           (p.dtype == DataType::kFloat16 || p.dtype == DataType::kBFloat16);
}

Result<FusedConvGraph> buildFusedConvGraph(cudnnHandle_t handle, const CudnnConvProblem& p, bool hasZ, bool relu) {
    if (!graphConvServes(p)) return unsupported("cuDNN graph convolution: not a 2-D ungrouped FP16/BF16 NHWC problem");
    FusedConvGraph g;
    const cudnnDataType_t io = dataTypeOf(p.dtype);
    const std::vector<int64_t> out = dims4(p.out);
    KILN_ASSIGN_OR_RETURN(BackendDesc x, makeTensor(kGraphX, io, dims4(p.in), false));
    KILN_ASSIGN_OR_RETURN(BackendDesc w, makeTensor(kGraphW, io, dims4(p.filter), false));
    KILN_ASSIGN_OR_RETURN(BackendDesc b, makeTensor(kGraphBias, io, {1, out[1], 1, 1}, false));
    KILN_ASSIGN_OR_RETURN(BackendDesc y, makeTensor(kGraphY, io, out, false));
    KILN_ASSIGN_OR_RETURN(BackendDesc convOut, makeTensor(kConvOutId, CUDNN_DATA_FLOAT, out, true));
    std::vector<BackendDesc> ops;
    {
        KILN_ASSIGN_OR_RETURN(BackendDesc op, makeConvolution(g, p, x, w, convOut));
        ops.push_back(std::move(op));
    }
    // The chain conv → + bias [→ + z] [→ relu]: each step writes a virtual FP32 tensor, the last one writes y.
    const bool last = !hasZ && !relu;
    KILN_ASSIGN_OR_RETURN(BackendDesc biased, last ? Result<BackendDesc>(std::move(y))
                                                   : makeTensor(kBiasOutId, CUDNN_DATA_FLOAT, out, true));
    {
        KILN_ASSIGN_OR_RETURN(BackendDesc op, makePointwise(g, CUDNN_POINTWISE_ADD, convOut, &b, biased));
        ops.push_back(std::move(op));
    }
    const BackendDesc* current = &biased;
    BackendDesc z, residual;
    if (hasZ) {
        KILN_ASSIGN_OR_RETURN(z, makeTensor(kGraphZ, io, out, false));
        if (relu) {
            KILN_ASSIGN_OR_RETURN(residual, makeTensor(kResidualOutId, CUDNN_DATA_FLOAT, out, true));
        } else {
            residual = std::move(y);
        }
        KILN_ASSIGN_OR_RETURN(BackendDesc op, makePointwise(g, CUDNN_POINTWISE_ADD, *current, &z, residual));
        ops.push_back(std::move(op));
        current = &residual;
    }
    if (relu) {
        KILN_ASSIGN_OR_RETURN(BackendDesc op, makePointwise(g, CUDNN_POINTWISE_RELU_FWD, *current, nullptr, y));
        ops.push_back(std::move(op));
    }
    KILN_ASSIGN_OR_RETURN(g.graph, BackendDesc::create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph"));
    std::vector<cudnnBackendDescriptor_t> raw;
    for (const BackendDesc& op : ops) raw.push_back(op.get());
    KILN_RETURN_IF_ERROR(
        g.graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "OPERATIONGRAPH_HANDLE"));
    KILN_RETURN_IF_ERROR(g.graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                     static_cast<int64_t>(raw.size()), raw.data(), "OPERATIONGRAPH_OPS"));
    KILN_RETURN_IF_ERROR(g.graph.finalize("operation graph"));
    for (BackendDesc* keep : {&x, &w, &b, &y, &convOut, &biased, &z, &residual}) {
        if (keep->get()) g.parts.push_back(std::move(*keep));
    }
    for (BackendDesc& op : ops) g.parts.push_back(std::move(op));
    return g;
}

namespace {

//! Reads up to `max` descriptors of `type` from attribute `name` of `from` into `out` (created here, as cuDNN wants
//! them); returns how many cuDNN gave.
Result<int64_t> getDescriptors(const BackendDesc& from, cudnnBackendAttributeName_t name,
                               cudnnBackendDescriptorType_t type, int64_t max, const char* what,
                               std::vector<BackendDesc>& out) {
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < max; ++i) {
        KILN_ASSIGN_OR_RETURN(BackendDesc d, BackendDesc::create(type, what));
        raw.push_back(d.get());
        out.push_back(std::move(d));
    }
    if (max == 0) return int64_t{0};
    int64_t got = 0;
    KILN_RETURN_IF_ERROR(
        backendStatus(cudnnBackendGetAttribute(from.get(), name, CUDNN_TYPE_BACKEND_DESCRIPTOR, max, &got, raw.data()),
                      std::string("cudnnBackendGetAttribute(") + what + ")"));
    return std::min(got, max);
}

//! The engine index and knob choices of a heuristic's engine config.
Result<GraphConfig> readConfig(const BackendDesc& cfg) {
    GraphConfig c;
    KILN_ASSIGN_OR_RETURN(BackendDesc engine, BackendDesc::create(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine"));
    cudnnBackendDescriptor_t raw = engine.get();
    int64_t got = 0;
    KILN_RETURN_IF_ERROR(backendStatus(
        cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &raw),
        "cudnnBackendGetAttribute(ENGINECFG_ENGINE)"));
    KILN_RETURN_IF_ERROR(backendStatus(
        cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &got, &c.engine),
        "cudnnBackendGetAttribute(ENGINE_GLOBAL_INDEX)"));
    std::vector<BackendDesc> knobs;
    KILN_ASSIGN_OR_RETURN(const int64_t count,
                          getDescriptors(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR,
                                         CUDNN_KNOB_TYPE_COUNTS, "ENGINECFG_KNOB_CHOICES", knobs));
    for (int64_t i = 0; i < count; ++i) {
        cudnnBackendKnobType_t type{};
        int64_t value = 0;
        const cudnnBackendDescriptor_t k = knobs[static_cast<size_t>(i)].get();
        KILN_RETURN_IF_ERROR(backendStatus(
            cudnnBackendGetAttribute(k, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &got, &type),
            "cudnnBackendGetAttribute(KNOB_CHOICE_KNOB_TYPE)"));
        KILN_RETURN_IF_ERROR(backendStatus(
            cudnnBackendGetAttribute(k, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &got, &value),
            "cudnnBackendGetAttribute(KNOB_CHOICE_KNOB_VALUE)"));
        c.knobs.emplace_back(static_cast<int64_t>(type), value);
    }
    return c;
}

//! The configs of one heuristic mode, appended to `out` unless already there.
Status rankMode(const FusedConvGraph& g, cudnnBackendHeurMode_t mode, const char* name, size_t max,
                std::vector<GraphConfig>& out) {
    KILN_ASSIGN_OR_RETURN(BackendDesc heur, BackendDesc::create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, name));
    KILN_RETURN_IF_ERROR(heur.setDesc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, g.graph, "ENGINEHEUR_OPERATION_GRAPH"));
    KILN_RETURN_IF_ERROR(heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "ENGINEHEUR_MODE"));
    // A mode without an answer for this graph contributes nothing; the other mode may still have one.
    if (Status st = heur.finalize(name); !st) return st.code() == ErrorCode::kUnsupported ? Status::ok() : st;
    int64_t available = 0;
    KILN_RETURN_IF_ERROR(backendStatus(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available, nullptr),
                                       "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS count)"));
    std::vector<BackendDesc> cfgs;
    KILN_ASSIGN_OR_RETURN(const int64_t got,
                          getDescriptors(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR,
                                         available, "ENGINEHEUR_RESULTS", cfgs));
    for (int64_t i = 0; i < got && out.size() < max; ++i) {
        Result<GraphConfig> c = readConfig(cfgs[static_cast<size_t>(i)]);
        // A config cuDNN cannot describe (an unfinalized slot of the list) is skipped, not an error.
        if (!c) continue;
        bool seen = false;
        for (const GraphConfig& o : out) seen = seen || o == *c;
        if (!seen) out.push_back(std::move(*c));
    }
    return Status::ok();
}

}  // namespace

Result<std::vector<GraphConfig>> rankGraphConfigs(const FusedConvGraph& graph, size_t max) {
    std::vector<GraphConfig> out;
    KILN_RETURN_IF_ERROR(rankMode(graph, CUDNN_HEUR_MODE_A, "engine heuristics (mode A)", max, out));
    KILN_RETURN_IF_ERROR(rankMode(graph, CUDNN_HEUR_MODE_FALLBACK, "engine heuristics (fallback)", max, out));
    return out;
}

namespace {

//! The finalized engine `index` of `graph`.
Result<BackendDesc> makeEngine(const FusedConvGraph& graph, int64_t index) {
    KILN_ASSIGN_OR_RETURN(BackendDesc engine, BackendDesc::create(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine"));
    KILN_RETURN_IF_ERROR(engine.setDesc(CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph.graph, "ENGINE_OPERATION_GRAPH"));
    KILN_RETURN_IF_ERROR(
        engine.set(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &index, "ENGINE_GLOBAL_INDEX"));
    KILN_RETURN_IF_ERROR(engine.finalize("engine"));
    return engine;
}

}  // namespace

Result<std::vector<KnobRange>> engineKnobRanges(const FusedConvGraph& graph, int64_t engine) {
    KILN_ASSIGN_OR_RETURN(BackendDesc e, makeEngine(graph, engine));
    std::vector<BackendDesc> infos;
    KILN_ASSIGN_OR_RETURN(const int64_t count,
                          getDescriptors(e, CUDNN_ATTR_ENGINE_KNOB_INFO, CUDNN_BACKEND_KNOB_INFO_DESCRIPTOR,
                                         CUDNN_KNOB_TYPE_COUNTS, "ENGINE_KNOB_INFO", infos));
    std::vector<KnobRange> out;
    for (int64_t i = 0; i < count; ++i) {
        const cudnnBackendDescriptor_t k = infos[static_cast<size_t>(i)].get();
        cudnnBackendKnobType_t type{};
        KnobRange r;
        int64_t got = 0;
        KILN_RETURN_IF_ERROR(
            backendStatus(cudnnBackendGetAttribute(k, CUDNN_ATTR_KNOB_INFO_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &got, &type),
                          "cudnnBackendGetAttribute(KNOB_INFO_TYPE)"));
        const std::pair<cudnnBackendAttributeName_t, int64_t*> values[] = {{CUDNN_ATTR_KNOB_INFO_MINIMUM_VALUE, &r.min},
                                                                           {CUDNN_ATTR_KNOB_INFO_MAXIMUM_VALUE, &r.max},
                                                                           {CUDNN_ATTR_KNOB_INFO_STRIDE, &r.stride}};
        for (const auto& [name, value] : values) {
            KILN_RETURN_IF_ERROR(backendStatus(cudnnBackendGetAttribute(k, name, CUDNN_TYPE_INT64, 1, &got, value),
                                               "cudnnBackendGetAttribute(KNOB_INFO value)"));
        }
        r.type = static_cast<int64_t>(type);
        r.stride = std::max<int64_t>(r.stride, 1);
        out.push_back(r);
    }
    return out;
}

Result<GraphPlan> buildGraphPlan(cudnnHandle_t handle, const FusedConvGraph& graph, const GraphConfig& config) {
    GraphPlan p;
    KILN_ASSIGN_OR_RETURN(BackendDesc engine, makeEngine(graph, config.engine));
    std::vector<cudnnBackendDescriptor_t> rawKnobs;
    for (const auto& [type, value] : config.knobs) {
        KILN_ASSIGN_OR_RETURN(BackendDesc k, BackendDesc::create(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, "knob choice"));
        const auto knob = static_cast<cudnnBackendKnobType_t>(type);
        KILN_RETURN_IF_ERROR(k.set(CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &knob, "KNOB_TYPE"));
        KILN_RETURN_IF_ERROR(k.set(CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &value, "KNOB_VALUE"));
        KILN_RETURN_IF_ERROR(k.finalize("knob choice"));
        rawKnobs.push_back(k.get());
        p.parts.push_back(std::move(k));
    }
    KILN_ASSIGN_OR_RETURN(BackendDesc cfg, BackendDesc::create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config"));
    KILN_RETURN_IF_ERROR(cfg.setDesc(CUDNN_ATTR_ENGINECFG_ENGINE, engine, "ENGINECFG_ENGINE"));
    if (!rawKnobs.empty()) {
        KILN_RETURN_IF_ERROR(cfg.set(CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                     static_cast<int64_t>(rawKnobs.size()), rawKnobs.data(), "ENGINECFG_KNOB_CHOICES"));
    }
    KILN_RETURN_IF_ERROR(cfg.finalize("engine config"));
    KILN_ASSIGN_OR_RETURN(p.plan, BackendDesc::create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "execution plan"));
    KILN_RETURN_IF_ERROR(
        p.plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "EXECUTION_PLAN_HANDLE"));
    KILN_RETURN_IF_ERROR(p.plan.setDesc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cfg, "EXECUTION_PLAN_ENGINE_CONFIG"));
    KILN_RETURN_IF_ERROR(p.plan.finalize("execution plan"));
    int64_t workspace = 0, got = 0;
    KILN_RETURN_IF_ERROR(backendStatus(cudnnBackendGetAttribute(p.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                                CUDNN_TYPE_INT64, 1, &got, &workspace),
                                       "cudnnBackendGetAttribute(EXECUTION_PLAN_WORKSPACE_SIZE)"));
    p.workspace = static_cast<size_t>(std::max<int64_t>(workspace, 0));
    p.parts.push_back(std::move(engine));
    p.parts.push_back(std::move(cfg));
    return p;
}

namespace {

constexpr std::string_view kTacticPrefix = "graph engine=";

//! Parses a non-negative decimal at `s`, advancing it; false on anything else (signs, overflow, empty).
template <typename T>
bool parseNumber(std::string_view& s, T& out) {
    if (s.empty() || s[0] < '0' || s[0] > '9') return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc()) return false;
    s.remove_prefix(static_cast<size_t>(end - s.data()));
    return true;
}

bool consume(std::string_view& s, std::string_view token) {
    if (s.substr(0, token.size()) != token) return false;
    s.remove_prefix(token.size());
    return true;
}

}  // namespace

std::string encodeGraphTactic(const GraphTactic& t) {
    std::string knobs;
    for (const auto& [type, value] : t.config.knobs) {
        knobs += (knobs.empty() ? "" : ",") + std::to_string(type) + ":" + std::to_string(value);
    }
    return std::string(kTacticPrefix) + std::to_string(t.config.engine) + " knobs=" + knobs +
           " workspace=" + std::to_string(t.workspace);
}

bool isGraphTactic(const std::string& text) { return text.rfind("graph ", 0) == 0; }

std::optional<GraphTactic> decodeGraphTactic(const std::string& text) {
    std::string_view s(text);
    GraphTactic t;
    if (!consume(s, kTacticPrefix) || !parseNumber(s, t.config.engine) || !consume(s, " knobs=")) return std::nullopt;
    while (!s.empty() && s[0] != ' ') {
        if (!t.config.knobs.empty() && !consume(s, ",")) return std::nullopt;
        int64_t type = 0, value = 0;
        if (!parseNumber(s, type) || type >= CUDNN_KNOB_TYPE_COUNTS || !consume(s, ":")) return std::nullopt;
        // Knob values may be negative in cuDNN's knob ranges.
        const bool negative = consume(s, "-");
        if (!parseNumber(s, value)) return std::nullopt;
        t.config.knobs.emplace_back(type, negative ? -value : value);
    }
    if (!consume(s, " workspace=") || !parseNumber(s, t.workspace) || !s.empty()) return std::nullopt;
    return t;
}

}  // namespace kiln::cuda
