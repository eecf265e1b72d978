#include "backends/cuda/kernels/conv_cudnn.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_cudnn_graph.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/kernels/conv_small_c_tactic.h"
#include "backends/cuda/kernels/conv_wgmma_tactic.h"
#include "backends/cuda/tactics.h"

namespace kiln::cuda {

namespace {

struct Descriptors {
    LibraryObject<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor> in, out;
    LibraryObject<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor> filter;
    LibraryObject<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor> conv;
};

cudnnDataType_t cudnnType(DataType t) {
    switch (t) {
        case DataType::kFloat16: return CUDNN_DATA_HALF;
        case DataType::kBFloat16: return CUDNN_DATA_BFLOAT16;
        case DataType::kFloat64: return CUDNN_DATA_DOUBLE;
        default: return CUDNN_DATA_FLOAT;
    }
}

//! A packed tensor of `dims` (NCHW order), stored NCHW or channels-last. Channels-last is named by its format, not
//! by strides: with one channel the strides of the two layouts coincide.
Status setPackedTensor(cudnnTensorDescriptor_t d, cudnnDataType_t type, int nbDims, const std::array<int, 5>& dims,
                       bool channelsLast) {
    const cudnnTensorFormat_t format = channelsLast ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    KILN_CUDNN_CHECK(cudnnSetTensorNdDescriptorEx(d, format, type, nbDims, dims.data()));
    return Status::ok();
}

Status makeDescriptors(const CudnnConvProblem& p, Descriptors& d) {
    const cudnnDataType_t type = cudnnType(p.dtype);
    // 16-bit data accumulates in float (cuDNN's PSEUDO_HALF / PSEUDO_BFLOAT16 configurations).
    const cudnnDataType_t compute = p.dtype == DataType::kFloat64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(d.in.put()));
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(d.out.put()));
    KILN_CUDNN_CHECK(cudnnCreateFilterDescriptor(d.filter.put()));
    KILN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(d.conv.put()));
    KILN_RETURN_IF_ERROR(setPackedTensor(d.in.get(), type, p.nbDims, p.in, p.channelsLast));
    KILN_RETURN_IF_ERROR(setPackedTensor(d.out.get(), type, p.nbDims, p.out, p.channelsLast));
    const cudnnTensorFormat_t filterFormat = p.channelsLast ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    KILN_CUDNN_CHECK(cudnnSetFilterNdDescriptor(d.filter.get(), type, filterFormat, p.nbDims, p.filter.data()));
    KILN_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(d.conv.get(), p.nbDims - 2, p.pad.data(), p.stride.data(),
                                                     p.dilation.data(), CUDNN_CROSS_CORRELATION, compute));
    KILN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d.conv.get(), p.group));
    return Status::ok();
}

//! One algorithm cuDNN ranked for a problem, with the math type and workspace it runs with.
struct Candidate {
    int algo = 0;
    cudnnMathType_t math = CUDNN_DEFAULT_MATH;
    size_t workspace = 0;
};

struct AlgoChoice {
    std::vector<Candidate> candidates;  //!< Heuristic order.
    std::atomic<size_t> first{0};       //!< The first candidate cuDNN has not refused.
};

std::atomic<uint64_t> gRefusals{0};
std::atomic<uint64_t> gFusedRefusals{0};

// Cache keys of the fused call: its own refusals must not move the plain forward's first candidate.
constexpr int kFusedReluDirection = 2;
constexpr int kFusedIdentityDirection = 3;

AlgoCache<AlgoChoice>& algoCache() {
    static AlgoCache<AlgoChoice> cache;
    return cache;
}

bool notSupported(cudnnStatus_t s) { return CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_NOT_SUPPORTED; }

//! float32 without TF32 runs FMA kernels only: tensor-op candidates are dropped and the descriptor says FMA.
bool strictFloat32(const CudaKernelContext& ctx, const CudnnConvProblem& p) {
    return p.dtype == DataType::kFloat32 && !ctx.tf32Allowed();
}

cudnnMathType_t mathFor(bool strict, cudnnMathType_t candidate) { return strict ? CUDNN_FMA_MATH : candidate; }

// The two directions differ only in which cuDNN functions they call and how the descriptors are ordered.
struct Forward {
    using Perf = cudnnConvolutionFwdAlgoPerf_t;
    using Algo = cudnnConvolutionFwdAlgo_t;
    static constexpr int kDirection = 0;
    static constexpr const char* kName = "cudnnConvolutionForward";
    static cudnnStatus_t maxCount(cudnnHandle_t h, int* n) { return cudnnGetConvolutionForwardAlgorithmMaxCount(h, n); }
    static cudnnStatus_t rank(cudnnHandle_t h, const Descriptors& d, int n, int* got, Perf* perf) {
        return cudnnGetConvolutionForwardAlgorithm_v7(h, d.in.get(), d.filter.get(), d.conv.get(), d.out.get(), n, got,
                                                      perf);
    }
    static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo a, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, d.in.get(), d.filter.get(), d.conv.get(), d.out.get(), a,
                                                       bytes);
    }
    static cudnnStatus_t run(cudnnHandle_t h, const Descriptors& d, Algo a, void* ws, size_t wsBytes, const void* alpha,
                             const void* beta, const void* src, const void* filter, void* dst) {
        return cudnnConvolutionForward(h, alpha, d.in.get(), src, d.filter.get(), filter, d.conv.get(), a, ws, wsBytes,
                                       beta, d.out.get(), dst);
    }
};

struct BackwardData {
    using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
    using Algo = cudnnConvolutionBwdDataAlgo_t;
    static constexpr int kDirection = 1;
    static constexpr const char* kName = "cudnnConvolutionBackwardData";
    static cudnnStatus_t maxCount(cudnnHandle_t h, int* n) {
        return cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, n);
    }
    static cudnnStatus_t rank(cudnnHandle_t h, const Descriptors& d, int n, int* got, Perf* perf) {
        return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.filter.get(), d.out.get(), d.conv.get(), d.in.get(), n,
                                                           got, perf);
    }
    static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo a, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.filter.get(), d.out.get(), d.conv.get(), d.in.get(), a,
                                                            bytes);
    }
    static cudnnStatus_t run(cudnnHandle_t h, const Descriptors& d, Algo a, void* ws, size_t wsBytes, const void* alpha,
                             const void* beta, const void* src, const void* filter, void* dst) {
        return cudnnConvolutionBackwardData(h, alpha, d.filter.get(), filter, d.out.get(), src, d.conv.get(), a, ws,
                                            wsBytes, beta, d.in.get(), dst);
    }
};

CacheKey problemKey(const CudnnConvProblem& p, int direction, bool strict, size_t budget) {
    CacheKey key;
    key.add(direction).add(currentDevice()).add(static_cast<int64_t>(p.dtype)).add(strict ? 1 : 0);
    key.add(p.channelsLast ? 1 : 0);
    key.add(static_cast<int64_t>(budget)).add(p.nbDims).add(p.group);
    for (int i = 0; i < p.nbDims; ++i) key.add(p.in[i]).add(p.filter[i]).add(p.out[i]);
    for (int i = 0; i < p.nbDims - 2; ++i) key.add(p.pad[i]).add(p.stride[i]).add(p.dilation[i]);
    return key;
}

//! cuDNN's ranking of the algorithms, filtered to those allowed and within `budget` bytes of workspace.
template <typename Dir>
Result<std::shared_ptr<AlgoChoice>> chooseAlgorithms(cudnnHandle_t h, const Descriptors& d, DataType dtype, bool strict,
                                                     size_t budget) {
    int maxCount = 0;
    KILN_CUDNN_CHECK(Dir::maxCount(h, &maxCount));
    std::vector<typename Dir::Perf> perf(static_cast<size_t>(std::max(maxCount, 1)));
    int returned = 0;
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), strict ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
    auto choice = std::make_shared<AlgoChoice>();
    // A problem cuDNN cannot take at all is remembered as one without candidates.
    const cudnnStatus_t ranked = Dir::rank(h, d, static_cast<int>(perf.size()), &returned, perf.data());
    if (notSupported(ranked)) return choice;
    if (ranked != CUDNN_STATUS_SUCCESS) return cudnnFailure(ranked, "cudnnGetConvolution*Algorithm_v7");
    for (int i = 0; i < returned; ++i) {
        const typename Dir::Perf& r = perf[static_cast<size_t>(i)];
        if (r.status != CUDNN_STATUS_SUCCESS) continue;
        if (strict && (r.mathType == CUDNN_TENSOR_OP_MATH || r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)) {
            continue;
        }
        Candidate c{static_cast<int>(r.algo), r.mathType, 0};
        KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), mathFor(strict, c.math)));
        if (Dir::workspace(h, d, r.algo, &c.workspace) != CUDNN_STATUS_SUCCESS || c.workspace > budget) continue;
        bool seen = false;
        for (const Candidate& o : choice->candidates) seen = seen || (o.algo == c.algo && o.math == c.math);
        if (!seen) choice->candidates.push_back(c);
    }
    // FP16 and BF16 run on tensor cores: where cuDNN offers a tensor-op algorithm, its default-math (CUDA-core)
    // candidates go. On the H100, build-time timing chose default-math algorithm 0 for 28 of ResNet-50's FP16
    // convolutions at batch 1, and the engine then ran 2.1 ms instead of 0.32 ms (bench/NOTES.md, tactics row).
    const bool half = dtype == DataType::kFloat16 || dtype == DataType::kBFloat16;
    auto tensorOp = [](const Candidate& c) {
        return c.math == CUDNN_TENSOR_OP_MATH || c.math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    };
    auto& list = choice->candidates;
    if (half && std::any_of(list.begin(), list.end(), tensorOp)) {
        list.erase(std::remove_if(list.begin(), list.end(), [&](const Candidate& c) { return !tensorOp(c); }),
                   list.end());
    }
    return choice;
}

//! The problem as a timing-cache signature (tactics.h): the fields of problemKey but the device, readable. `graph`:
//! the candidates include cuDNN graph configs (conv_cudnn_graph.h); `kiln` (when not null): the version of the Kiln
//! kernel among them (KilnCandidate::version); so that choices timed without them do not answer.
std::string signatureOf(const CudnnConvProblem& p, int direction, bool strict, size_t budget, bool graph,
                        const char* kiln) {
    static constexpr const char* kKinds[] = {"cudnn.fwd", "cudnn.bwd_data", "cudnn.fused_relu", "cudnn.fused_identity"};
    const auto spatial = static_cast<size_t>(p.nbDims - 2);
    Signature s(kKinds[direction]);
    s.add("dtype", dataTypeName(p.dtype)).add("layout", p.channelsLast ? "nhwc" : "nchw");
    s.add("math", strict ? "fma" : "tensor_op");
    s.dims("in", p.in, static_cast<size_t>(p.nbDims)).dims("filter", p.filter, static_cast<size_t>(p.nbDims));
    s.dims("out", p.out, static_cast<size_t>(p.nbDims)).dims("pad", p.pad, spatial).dims("stride", p.stride, spatial);
    s.dims("dilation", p.dilation, spatial).add("group", p.group).add("workspace", budgetText(budget));
    if (graph) s.add("engines", "legacy+graph");
    if (kiln) s.add("kiln", kiln);
    return s.text();
}

std::string encodeTactic(const Candidate& c) {
    return "algo=" + std::to_string(c.algo) + " math=" + std::to_string(static_cast<int>(c.math)) +
           " workspace=" + std::to_string(c.workspace);
}

std::optional<Candidate> decodeTactic(const std::string& text) {
    int algo = 0, math = 0, consumed = 0;
    unsigned long long workspace = 0;
    if (std::sscanf(text.c_str(), "algo=%d math=%d workspace=%llu%n", &algo, &math, &workspace, &consumed) != 3 ||
        static_cast<size_t>(consumed) != text.size() || algo < 0 || math < 0) {
        return std::nullopt;
    }
    return Candidate{algo, static_cast<cudnnMathType_t>(math), static_cast<size_t>(workspace)};
}

//! The Kiln kernel a fused channels-last call may time: at most one takes a problem (the small-channel kernel wants
//! C <= 4, the wgmma kernel C >= 64). `version` is the signature's "kiln" part.
struct KilnCandidate {
    const char* version = nullptr;
    const char* tactic = nullptr;
    Status (*run)(CudaKernelContext&, const CudnnConvProblem&, const FusedConvOperands&, bool) = nullptr;
};

constexpr KilnCandidate kSmallChannelCandidate{"small_c1", kSmallChannelTactic, runSmallChannelConv};
constexpr KilnCandidate kWgmmaCandidate{"wgmma64_1", kWgmmaConvTactic, runWgmmaConv};

KilnCandidate kilnCandidate(const GraphConvCall* graph) {
    if (graph == nullptr) return {};
    if (smallChannelConvApplies(graph->p, graph->ops)) return kSmallChannelCandidate;
    if (wgmmaConvApplies(graph->p, graph->ops)) return kWgmmaCandidate;
    return {};
}

//! Candidate i of a list of `legacy` legacy algorithms, Kiln's kernel (when `kiln`) and graph configs: the kernel
//! comes right after the legacy first choice, so that the cheapest levels time it, and the first choice stays the
//! one the others must beat.
struct Slot {
    enum Kind { kLegacy, kKiln, kGraph } kind;
    size_t index;
};

Slot slotOf(size_t i, size_t legacy, bool kiln) {
    const size_t kilnAt = std::min<size_t>(1, legacy);
    if (kiln) {
        if (i == kilnAt) return {Slot::kKiln, 0};
        if (i > kilnAt) --i;
    }
    return i < legacy ? Slot{Slot::kLegacy, i} : Slot{Slot::kGraph, i - legacy};
}

Status statusOf(cudnnStatus_t st, const char* name) {
    if (st == CUDNN_STATUS_SUCCESS) return Status::ok();
    if (notSupported(st)) return unsupported(std::string(name) + " refused the algorithm");
    return cudnnFailure(st, name);
}

//! Runs the problem with the tactic timed for it (at build) or recorded on the node (at run time), when there is
//! one and cuDNN takes it: true then. False: use cuDNN's ranking. With `graph` (the fused channels-last FP16/BF16
//! call), cuDNN's graph configs are candidates too, after the legacy algorithms (so the legacy first choice stays
//! the one the others must beat), and so is the Kiln kernel that applies (kilnCandidate, slotOf); a recorded graph
//! tactic runs through conv_cudnn_graph.h, a recorded Kiln tactic through conv_small_c_tactic.h or
//! conv_wgmma_tactic.h.
template <typename Accept, typename Call>
Result<bool> runTactic(CudaKernelContext& ctx, const CudnnConvProblem& p, const Descriptors& d,
                       const AlgoChoice& choice, int direction, size_t budget, const char* name, Accept accept,
                       Call call, const GraphConvCall* graph) {
    if (!mayHaveTactic(ctx)) return false;
    const bool strict = strictFloat32(ctx, p);
    const bool graphs = graph && graphConvApplies(*graph);
    const KilnCandidate kilnKernel = kilnCandidate(graph);
    const bool kiln = kilnKernel.run != nullptr;
    std::vector<Candidate> accepted;
    auto list = [&]() -> Result<TacticCandidates> {
        for (const Candidate& c : choice.candidates) {
            if (accept(c.algo)) accepted.push_back(c);
        }
        TacticCandidates g;
        if (graphs) {
            KILN_ASSIGN_OR_RETURN(g, graphConvCandidates(ctx, *graph));
        }
        const size_t legacy = accepted.size();
        TacticCandidates t;
        t.count = legacy + (kiln ? 1 : 0) + g.count;
        t.workspace = [&, g, legacy](size_t i) {
            const Slot s = slotOf(i, legacy, kiln);
            if (s.kind == Slot::kLegacy) return accepted[s.index].workspace;
            return s.kind == Slot::kGraph ? g.workspace(s.index) : size_t{0};
        };
        t.run = [&, g, legacy](size_t i, void* ws) -> Status {
            const Slot s = slotOf(i, legacy, kiln);
            if (s.kind == Slot::kGraph) return g.run(s.index, ws);
            if (s.kind == Slot::kKiln) return kilnKernel.run(ctx, graph->p, graph->ops, graph->relu);
            KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), mathFor(strict, accepted[s.index].math)));
            return statusOf(call(accepted[s.index].algo, ws, accepted[s.index].workspace), name);
        };
        t.encode = [&, g, legacy](size_t i) {
            const Slot s = slotOf(i, legacy, kiln);
            if (s.kind == Slot::kLegacy) return encodeTactic(accepted[s.index]);
            return s.kind == Slot::kGraph ? g.encode(s.index) : std::string(kilnKernel.tactic);
        };
        return t;
    };
    const std::string signature = signatureOf(p, direction, strict, budget, graphs, kilnKernel.version);
    KILN_ASSIGN_OR_RETURN(const std::string tactic, chooseTactic(ctx, signature, list));
    if (graph && isSmallChannelTactic(tactic)) {
        return runSmallChannelTactic(ctx, graph->p, graph->ops, graph->relu, tactic);
    }
    if (graph && isWgmmaConvTactic(tactic)) return runWgmmaConvTactic(ctx, graph->p, graph->ops, graph->relu, tactic);
    if (graph && isGraphTactic(tactic)) return runGraphConvTactic(ctx, *graph, tactic);
    const std::optional<Candidate> c = tactic.empty() ? std::nullopt : decodeTactic(tactic);
    if (!c || !accept(c->algo) || c->workspace > budget) return false;
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), mathFor(strict, c->math)));
    KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(c->workspace));
    const cudnnStatus_t st = call(c->algo, ws, c->workspace);
    if (st == CUDNN_STATUS_SUCCESS) return true;
    if (!notSupported(st)) return cudnnFailure(st, name);
    return false;
}

//! Runs the tactic of the problem when there is one (runTactic), else tries the candidates cuDNN ranked for the
//! problem (computed on first use and cached under `direction`) that `accept` takes, in order, through
//! `call(algo, workspace, bytes)`; remembers the first one cuDNN runs. kUnsupported when cuDNN refuses them all.
template <typename Dir, typename Accept, typename Call>
Status runCandidates(CudaKernelContext& ctx, const CudnnConvProblem& p, const Descriptors& d, int direction,
                     size_t budget, const char* name, Accept accept, Call call, const GraphConvCall* graph = nullptr) {
    const bool strict = strictFloat32(ctx, p);
    const CacheKey key = problemKey(p, direction, strict, budget);
    std::shared_ptr<AlgoChoice> choice = algoCache().find(key);
    if (!choice) {
        KILN_ASSIGN_OR_RETURN(choice, chooseAlgorithms<Dir>(ctx.run.cudnn, d, p.dtype, strict, budget));
        choice = algoCache().insert(key, std::move(choice));
    }
    KILN_ASSIGN_OR_RETURN(const bool done, runTactic(ctx, p, d, *choice, direction, budget, name, accept, call, graph));
    if (done) return Status::ok();
    for (size_t i = choice->first.load(); i < choice->candidates.size(); ++i) {
        const Candidate& c = choice->candidates[i];
        if (!accept(c.algo)) {
            choice->first.store(i + 1);  // the same for every call of this key
            continue;
        }
        KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), mathFor(strict, c.math)));
        KILN_ASSIGN_OR_RETURN(void* ws, ctx.workspace(c.workspace));
        const cudnnStatus_t st = call(c.algo, ws, c.workspace);
        if (st == CUDNN_STATUS_SUCCESS) {
            choice->first.store(i);
            return Status::ok();
        }
        if (!notSupported(st)) return cudnnFailure(st, name);
        choice->first.store(i + 1);  // refused: later calls start after it
    }
    return unsupported(std::string(name) + ": no algorithm for this problem within " + std::to_string(budget) +
                       " bytes of workspace");
}

template <typename Dir>
Status runConvolution(CudaKernelContext& ctx, const CudnnConvProblem& p, const void* src, const void* filter, void* dst,
                      size_t budget) {
    Descriptors d;
    KILN_RETURN_IF_ERROR(makeDescriptors(p, d));
    // Scaling factors are double for double data, float otherwise.
    const float one32 = 1.0f, zero32 = 0.0f;
    const double one64 = 1.0, zero64 = 0.0;
    const bool f64 = p.dtype == DataType::kFloat64;
    const void* one = f64 ? static_cast<const void*>(&one64) : &one32;
    const void* zero = f64 ? static_cast<const void*>(&zero64) : &zero32;
    Status st = runCandidates<Dir>(
        ctx, p, d, Dir::kDirection, budget, Dir::kName, [](int) { return true; },
        [&](int algo, void* ws, size_t bytes) {
            return Dir::run(ctx.run.cudnn, d, static_cast<typename Dir::Algo>(algo), ws, bytes, one, zero, src, filter,
                            dst);
        });
    if (st.code() == ErrorCode::kUnsupported) gRefusals.fetch_add(1, std::memory_order_relaxed);
    return st;
}

}  // namespace

std::string cudnnFusedConvSignature(const CudnnConvProblem& p, bool relu, size_t workspaceBudget) {
    const char* kiln = smallChannelConvServes(p) ? kSmallChannelCandidate.version
                       : wgmmaConvServes(p)      ? kWgmmaCandidate.version
                                                 : nullptr;
    return signatureOf(p, relu ? kFusedReluDirection : kFusedIdentityDirection, false, workspaceBudget,
                       graphConvServes(p), kiln);
}

uint64_t cudnnConvRefusals() { return gRefusals.load(std::memory_order_relaxed); }
uint64_t cudnnFusedConvRefusals() { return gFusedRefusals.load(std::memory_order_relaxed); }

Status cudnnConvForward(CudaKernelContext& ctx, const CudnnConvProblem& p, const void* in, const void* filter,
                        void* out, size_t workspaceBudget) {
    return runConvolution<Forward>(ctx, p, in, filter, out, workspaceBudget);
}

Status cudnnConvBiasActivationForward(CudaKernelContext& ctx, const CudnnConvProblem& p, const void* in,
                                      const void* filter, const void* bias, const void* z, bool relu, void* out,
                                      size_t workspaceBudget) {
    if (p.dtype == DataType::kFloat64) return unsupported("cudnnConvolutionBiasActivationForward: float64");
    Descriptors d;
    KILN_RETURN_IF_ERROR(makeDescriptors(p, d));
    LibraryObject<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor> biasDesc;
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(biasDesc.put()));
    std::array<int, 5> biasDims{1, p.out[1], 1, 1, 1};
    KILN_RETURN_IF_ERROR(setPackedTensor(biasDesc.get(), cudnnType(p.dtype), p.nbDims, biasDims, false));
    LibraryObject<cudnnActivationDescriptor_t, cudnnDestroyActivationDescriptor> act;
    KILN_CUDNN_CHECK(cudnnCreateActivationDescriptor(act.put()));
    // NaN propagates, as through the reference's Relu (x < 0 ? 0 : x).
    KILN_CUDNN_CHECK(cudnnSetActivationDescriptor(act.get(), relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                                                  CUDNN_PROPAGATE_NAN, 0.0));
    const float one = 1.0f;
    const float zScale = z ? 1.0f : 0.0f;
    // Without a residual, z names the output with a zero scale: cuDNN does not read it then (PyTorch's
    // cudnn_convolution_relu does the same).
    const void* zData = z ? z : out;
    auto accept = [relu](int algo) { return relu || algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM; };
    // Channels-last FP16/BF16 problems also time cuDNN's graph engine configs (conv_cudnn_graph.h), and those with
    // few input channels or 64 output channels Kiln's kernels (conv_small_c_tactic.h, conv_wgmma_tactic.h).
    const GraphConvCall graph{p, FusedConvOperands{in, filter, bias, z, out}, relu, workspaceBudget};
    const bool extra = graphConvApplies(graph) || kilnCandidate(&graph).run != nullptr;
    Status st = runCandidates<Forward>(
        ctx, p, d, relu ? kFusedReluDirection : kFusedIdentityDirection, workspaceBudget,
        "cudnnConvolutionBiasActivationForward", accept,
        [&](int algo, void* ws, size_t bytes) {
            return cudnnConvolutionBiasActivationForward(ctx.run.cudnn, &one, d.in.get(), in, d.filter.get(), filter,
                                                         d.conv.get(), static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws,
                                                         bytes, &zScale, d.out.get(), zData, biasDesc.get(), bias,
                                                         act.get(), d.out.get(), out);
        },
        extra ? &graph : nullptr);
    if (st.code() == ErrorCode::kUnsupported) gFusedRefusals.fetch_add(1, std::memory_order_relaxed);
    return st;
}

Status cudnnConvBackwardData(CudaKernelContext& ctx, const CudnnConvProblem& p, const void* out, const void* filter,
                             void* in, size_t workspaceBudget) {
    return runConvolution<BackwardData>(ctx, p, out, filter, in, workspaceBudget);
}

}  // namespace kiln::cuda
