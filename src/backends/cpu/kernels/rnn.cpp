// Recurrent layers: LSTM, GRU, RNN (ONNX semantics: directions, layout 0/1, sequence_lens, activations, clip).
//
// The three ops share one driver: it validates the common inputs, converts them to the compute type, walks each
// batch row through time in the direction's order (stopping at that row's sequence length) and writes Y / Y_h /
// Y_c in the requested layout. Each op supplies only its cell update. The state is kept per batch row, so rows of
// different lengths need no masking; matrix-vector products are plain loops (the layers seen in ONNX models run
// on the CUDA backend; this is the reference).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "common/dispatch.h"

namespace kiln::cpu {
namespace {

enum class ActKind {
    kSigmoid,
    kTanh,
    kRelu,
    kHardSigmoid,
    kAffine,
    kLeakyRelu,
    kThresholdedRelu,
    kScaledTanh,
    kElu,
    kSoftsign,
    kSoftplus
};

struct Activation {
    ActKind kind = ActKind::kSigmoid;
    float alpha = 0.0f;
    float beta = 0.0f;
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

//! Number of alpha/beta parameters the activation consumes from activation_alpha/activation_beta, and defaults.
struct ActInfo {
    ActKind kind;
    bool usesAlpha;
    bool usesBeta;
    float alpha;
    float beta;
};

std::optional<ActInfo> activationInfo(const std::string& name) {
    const std::string n = lower(name);
    if (n == "sigmoid") return ActInfo{ActKind::kSigmoid, false, false, 0, 0};
    if (n == "tanh") return ActInfo{ActKind::kTanh, false, false, 0, 0};
    if (n == "relu") return ActInfo{ActKind::kRelu, false, false, 0, 0};
    if (n == "hardsigmoid") return ActInfo{ActKind::kHardSigmoid, true, true, 0.2f, 0.5f};
    if (n == "affine") return ActInfo{ActKind::kAffine, true, true, 1.0f, 0.0f};
    if (n == "leakyrelu") return ActInfo{ActKind::kLeakyRelu, true, false, 0.01f, 0};
    if (n == "thresholdedrelu") return ActInfo{ActKind::kThresholdedRelu, true, false, 1.0f, 0};
    if (n == "scaledtanh") return ActInfo{ActKind::kScaledTanh, true, true, 1.0f, 1.0f};
    if (n == "elu") return ActInfo{ActKind::kElu, true, false, 1.0f, 0};
    if (n == "softsign") return ActInfo{ActKind::kSoftsign, false, false, 0, 0};
    if (n == "softplus") return ActInfo{ActKind::kSoftplus, false, false, 0, 0};
    return std::nullopt;
}

template <typename C>
C applyActivation(const Activation& a, C x) {
    const C alpha = static_cast<C>(a.alpha);
    const C beta = static_cast<C>(a.beta);
    switch (a.kind) {
        case ActKind::kSigmoid: return C(1) / (C(1) + std::exp(-x));
        case ActKind::kTanh: return std::tanh(x);
        case ActKind::kRelu: return x > C(0) ? x : C(0);
        case ActKind::kHardSigmoid: return std::max(C(0), std::min(C(1), alpha * x + beta));
        case ActKind::kAffine: return alpha * x + beta;
        case ActKind::kLeakyRelu: return x >= C(0) ? x : alpha * x;
        case ActKind::kThresholdedRelu: return x > alpha ? x : C(0);
        case ActKind::kScaledTanh: return alpha * std::tanh(beta * x);
        case ActKind::kElu: return x >= C(0) ? x : alpha * (std::exp(x) - C(1));
        case ActKind::kSoftsign: return x / (C(1) + std::fabs(x));
        case ActKind::kSoftplus: return x > C(20) ? x : std::log1p(std::exp(x));  // avoids exp overflow
    }
    return x;
}

//! Reads `activations` (perDir names per direction, or perDir names shared by both directions) with their
//! alpha/beta values, which are consumed in order by the activations that take them (as ONNX Runtime does).
Result<std::vector<Activation>> parseActivations(const KernelContext& ctx, const std::vector<std::string>& defaults,
                                                 int64_t numDirections) {
    const size_t perDir = defaults.size();
    std::vector<std::string> names;
    if (auto given = ctx.attrs().getStrings("activations")) {
        names = *given;
        if (names.size() == perDir && numDirections == 2) names.insert(names.end(), given->begin(), given->end());
        if (names.size() != perDir * static_cast<size_t>(numDirections)) {
            return invalidArgument("attribute 'activations' must list " + std::to_string(perDir) +
                                   " functions per direction (" + std::to_string(numDirections) + " directions), got " +
                                   std::to_string(given->size()));
        }
    } else {
        for (int64_t d = 0; d < numDirections; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
    }
    const std::vector<float> alphas = ctx.attrs().getFloats("activation_alpha").value_or(std::vector<float>{});
    const std::vector<float> betas = ctx.attrs().getFloats("activation_beta").value_or(std::vector<float>{});
    size_t ai = 0;
    size_t bi = 0;
    std::vector<Activation> out;
    for (const std::string& name : names) {
        auto info = activationInfo(name);
        if (!info) return unsupported("activation function '" + name + "' is not supported");
        Activation a{info->kind, info->alpha, info->beta};
        if (info->usesAlpha && ai < alphas.size()) a.alpha = alphas[ai++];
        if (info->usesBeta && bi < betas.size()) a.beta = betas[bi++];
        out.push_back(a);
    }
    return out;
}

std::string shapeOf(const Tensor& t) { return shapeToString(t.shape()); }

Status expectShape(const Tensor& t, const char* what, const Shape& want) {
    if (t.shape() != want) {
        return invalidArgument(std::string("input '") + what + "' must have shape " + shapeToString(want) + ", got " +
                               shapeOf(t));
    }
    return Status::ok();
}

//! Everything the driver and the cells need, in the compute type C.
template <typename C>
struct Recurrence {
    int64_t seqLen = 0;
    int64_t batch = 0;
    int64_t inputSize = 0;
    int64_t hidden = 0;
    int64_t numDir = 1;
    int64_t gates = 1;
    int64_t layout = 0;
    bool reverse = false;  //!< For one direction: true when direction == "reverse".
    std::vector<C> x;      //!< [seq][batch][input] (layout 0 order).
    std::vector<C> w;      //!< [dir][gates*hidden][input].
    std::vector<C> r;      //!< [dir][gates*hidden][hidden].
    std::vector<C> b;      //!< [dir][2*gates*hidden]; zeros when B is absent.
    std::vector<C> h0;     //!< [dir][batch][hidden].
    std::vector<C> c0;     //!< [dir][batch][hidden] (LSTM only).
    std::vector<int64_t> lens;
    std::vector<Activation> acts;  //!< perDir per direction.
    std::optional<C> clip;

    const C* W(int64_t d) const { return w.data() + d * gates * hidden * inputSize; }
    const C* R(int64_t d) const { return r.data() + d * gates * hidden * hidden; }
    const C* Wb(int64_t d) const { return b.data() + d * 2 * gates * hidden; }
    const C* Rb(int64_t d) const { return b.data() + d * 2 * gates * hidden + gates * hidden; }
    C clipped(C v) const { return clip ? std::max(-*clip, std::min(*clip, v)) : v; }
};

template <typename T, typename C = ComputeT<T>>
std::vector<C> toCompute(const Tensor& t) {
    std::vector<C> v(static_cast<size_t>(t.numel()));
    const T* p = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<C>(p[i]);
    return v;
}

//! Converts a [batch][dir][hidden] (layout 1) or [dir][batch][hidden] (layout 0) state to [dir][batch][hidden].
template <typename C>
std::vector<C> stateToCanonical(std::vector<C> v, int64_t layout, int64_t numDir, int64_t batch, int64_t hidden) {
    if (layout == 0) return v;
    std::vector<C> out(v.size());
    for (int64_t bb = 0; bb < batch; ++bb)
        for (int64_t d = 0; d < numDir; ++d)
            for (int64_t h = 0; h < hidden; ++h) out[(d * batch + bb) * hidden + h] = v[(bb * numDir + d) * hidden + h];
    return out;
}

//! Validates the inputs shared by LSTM/GRU/RNN (X, W, R, B, sequence_lens, initial_h[, initial_c]) and fills `rc`.
template <typename T, typename C = ComputeT<T>>
Status loadCommon(const KernelContext& ctx, int64_t gates, const std::vector<std::string>& defaultActs, bool hasCell,
                  Recurrence<C>& rc) {
    const Tensor& X = ctx.input(0);
    const Tensor& Wt = ctx.input(1);
    const Tensor& Rt = ctx.input(2);
    for (size_t i = 1; i < ctx.numInputs(); ++i) {
        if (!ctx.hasInput(i) || i == 4) continue;
        if (ctx.input(i).dtype() != X.dtype()) {
            return invalidArgument("input " + std::to_string(i) + " must have the dtype of X (" +
                                   dataTypeName(X.dtype()) + "), got " + dataTypeName(ctx.input(i).dtype()));
        }
    }
    rc.layout = ctx.attrs().getInt("layout", 0);
    if (rc.layout != 0 && rc.layout != 1) {
        return invalidArgument("attribute 'layout' must be 0 or 1, got " + std::to_string(rc.layout));
    }
    if (X.rank() != 3) return invalidArgument("input 'X' must have rank 3, got " + shapeOf(X));
    if (Wt.rank() != 3) return invalidArgument("input 'W' must have rank 3, got " + shapeOf(Wt));
    if (Rt.rank() != 3) return invalidArgument("input 'R' must have rank 3, got " + shapeOf(Rt));
    rc.seqLen = rc.layout == 0 ? X.dim(0) : X.dim(1);
    rc.batch = rc.layout == 0 ? X.dim(1) : X.dim(0);
    rc.inputSize = X.dim(2);
    rc.numDir = Wt.dim(0);
    rc.gates = gates;
    rc.hidden = Rt.dim(2);
    if (ctx.attrs().has("hidden_size") && ctx.attrs().getInt("hidden_size", 0) != rc.hidden) {
        return invalidArgument("attribute 'hidden_size' " + std::to_string(ctx.attrs().getInt("hidden_size", 0)) +
                               " does not match input 'R' " + shapeOf(Rt));
    }
    const std::string direction = ctx.attrs().getString("direction", "forward");
    if (direction != "forward" && direction != "reverse" && direction != "bidirectional") {
        return invalidArgument("attribute 'direction' must be forward, reverse or bidirectional, got '" + direction +
                               "'");
    }
    const int64_t wantDir = direction == "bidirectional" ? 2 : 1;
    if (rc.numDir != wantDir) {
        return invalidArgument("input 'W' " + shapeOf(Wt) + " must have " + std::to_string(wantDir) +
                               " directions for direction '" + direction + "'");
    }
    rc.reverse = direction == "reverse";
    const int64_t gh = gates * rc.hidden;
    KILN_RETURN_IF_ERROR(expectShape(Wt, "W", {rc.numDir, gh, rc.inputSize}));
    KILN_RETURN_IF_ERROR(expectShape(Rt, "R", {rc.numDir, gh, rc.hidden}));

    // X to [seq][batch][input].
    std::vector<C> x = toCompute<T>(X);
    if (rc.layout == 1) {
        rc.x.resize(x.size());
        for (int64_t bb = 0; bb < rc.batch; ++bb)
            for (int64_t t = 0; t < rc.seqLen; ++t)
                std::copy_n(x.begin() + (bb * rc.seqLen + t) * rc.inputSize, rc.inputSize,
                            rc.x.begin() + (t * rc.batch + bb) * rc.inputSize);
    } else {
        rc.x = std::move(x);
    }
    rc.w = toCompute<T>(Wt);
    rc.r = toCompute<T>(Rt);
    if (ctx.hasInput(3)) {
        KILN_RETURN_IF_ERROR(expectShape(ctx.input(3), "B", {rc.numDir, 2 * gh}));
        rc.b = toCompute<T>(ctx.input(3));
    } else {
        rc.b.assign(static_cast<size_t>(rc.numDir * 2 * gh), C(0));
    }
    rc.lens.assign(static_cast<size_t>(rc.batch), rc.seqLen);
    if (ctx.hasInput(4)) {
        const Tensor& sl = ctx.input(4);
        if (sl.dtype() != DataType::kInt32 && sl.dtype() != DataType::kInt64) {
            return invalidArgument(std::string("input 'sequence_lens' must be int32, got ") + dataTypeName(sl.dtype()));
        }
        KILN_RETURN_IF_ERROR(expectShape(sl, "sequence_lens", {rc.batch}));
        for (int64_t i = 0; i < rc.batch; ++i) {
            const int64_t len = sl.getInt(i);
            if (len < 0 || len > rc.seqLen) {
                return invalidArgument("input 'sequence_lens' value " + std::to_string(len) + " at " +
                                       std::to_string(i) + " is outside [0, " + std::to_string(rc.seqLen) + "]");
            }
            rc.lens[static_cast<size_t>(i)] = len;
        }
    }
    const Shape stateShape =
        rc.layout == 0 ? Shape{rc.numDir, rc.batch, rc.hidden} : Shape{rc.batch, rc.numDir, rc.hidden};
    const size_t stateSize = static_cast<size_t>(rc.numDir * rc.batch * rc.hidden);
    if (ctx.hasInput(5)) {
        KILN_RETURN_IF_ERROR(expectShape(ctx.input(5), "initial_h", stateShape));
        rc.h0 = stateToCanonical(toCompute<T>(ctx.input(5)), rc.layout, rc.numDir, rc.batch, rc.hidden);
    } else {
        rc.h0.assign(stateSize, C(0));
    }
    if (hasCell && ctx.hasInput(6)) {
        KILN_RETURN_IF_ERROR(expectShape(ctx.input(6), "initial_c", stateShape));
        rc.c0 = stateToCanonical(toCompute<T>(ctx.input(6)), rc.layout, rc.numDir, rc.batch, rc.hidden);
    } else {
        rc.c0.assign(stateSize, C(0));
    }
    KILN_ASSIGN_OR_RETURN(rc.acts, parseActivations(ctx, defaultActs, rc.numDir));
    if (ctx.attrs().has("clip")) {
        const float clip = ctx.attrs().getFloat("clip", 0.0f);
        if (!(clip > 0.0f)) return invalidArgument("attribute 'clip' must be positive, got " + std::to_string(clip));
        rc.clip = static_cast<C>(clip);
    }
    return Status::ok();
}

//! out[i] = M[i, :] . v + bias[i] for a rows x cols row-major M.
template <typename C>
void matVec(const C* m, int64_t rows, int64_t cols, const C* v, const C* bias, C* out) {
    for (int64_t i = 0; i < rows; ++i) {
        C acc = bias[i];
        const C* row = m + i * cols;
        for (int64_t k = 0; k < cols; ++k) acc += row[k] * v[k];
        out[i] = acc;
    }
}

//! Runs the recurrence and writes Y (0), Y_h (1) and, for LSTM, Y_c (2). `cell(dir, x, h, c)` updates the
//! state (h and c, hidden values each) in place from one input row x.
template <typename T, typename C, typename Cell>
Status runRecurrence(KernelContext& ctx, const Recurrence<C>& rc, bool hasCell, Cell cell) {
    const int64_t H = rc.hidden;
    std::vector<C> h = rc.h0;
    std::vector<C> c = rc.c0;
    std::vector<C> y;
    const bool wantY = ctx.wantsOutput(0);
    if (wantY) y.assign(static_cast<size_t>(rc.seqLen * rc.numDir * rc.batch * H), C(0));
    for (int64_t d = 0; d < rc.numDir; ++d) {
        const bool backward = d == 1 || rc.reverse;
        for (int64_t bb = 0; bb < rc.batch; ++bb) {
            const int64_t len = rc.lens[static_cast<size_t>(bb)];
            C* hs = h.data() + (d * rc.batch + bb) * H;
            C* cs = c.data() + (d * rc.batch + bb) * H;
            for (int64_t s = 0; s < len; ++s) {
                const int64_t t = backward ? len - 1 - s : s;
                cell(d, rc.x.data() + (t * rc.batch + bb) * rc.inputSize, hs, cs);
                if (wantY) std::copy_n(hs, H, y.data() + ((t * rc.numDir + d) * rc.batch + bb) * H);
            }
        }
    }
    const DataType dt = DataTypeOf<T>::value;
    if (wantY) {
        const Shape shape =
            rc.layout == 0 ? Shape{rc.seqLen, rc.numDir, rc.batch, H} : Shape{rc.batch, rc.seqLen, rc.numDir, H};
        KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocateOutput(0, dt, shape));
        T* p = out->data<T>();
        for (int64_t t = 0; t < rc.seqLen; ++t)
            for (int64_t d = 0; d < rc.numDir; ++d)
                for (int64_t bb = 0; bb < rc.batch; ++bb)
                    for (int64_t k = 0; k < H; ++k) {
                        const int64_t dst = rc.layout == 0 ? ((t * rc.numDir + d) * rc.batch + bb) * H + k
                                                           : ((bb * rc.seqLen + t) * rc.numDir + d) * H + k;
                        p[dst] = fromCompute<T>(y[static_cast<size_t>(((t * rc.numDir + d) * rc.batch + bb) * H + k)]);
                    }
    }
    const Shape stateShape = rc.layout == 0 ? Shape{rc.numDir, rc.batch, H} : Shape{rc.batch, rc.numDir, H};
    auto writeState = [&](size_t index, const std::vector<C>& state) -> Status {
        if (!ctx.wantsOutput(index)) return Status::ok();
        KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocateOutput(index, dt, stateShape));
        T* p = out->data<T>();
        for (int64_t d = 0; d < rc.numDir; ++d)
            for (int64_t bb = 0; bb < rc.batch; ++bb)
                for (int64_t k = 0; k < H; ++k) {
                    const int64_t dst = rc.layout == 0 ? (d * rc.batch + bb) * H + k : (bb * rc.numDir + d) * H + k;
                    p[dst] = fromCompute<T>(state[static_cast<size_t>((d * rc.batch + bb) * H + k)]);
                }
        return Status::ok();
    };
    KILN_RETURN_IF_ERROR(writeState(1, h));
    if (hasCell) KILN_RETURN_IF_ERROR(writeState(2, c));
    return Status::ok();
}

const char* kRnnDtypes = "LSTM/GRU/RNN (float16, float32, float64, bfloat16)";

}  // namespace

Status kernelLSTM(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 8));
    return dispatchFloat(
        ctx.input(0).dtype(),
        [&]<typename T>() -> Status {
            using C = ComputeT<T>;
            Recurrence<C> rc;
            KILN_RETURN_IF_ERROR(loadCommon<T>(ctx, 4, {"Sigmoid", "Tanh", "Tanh"}, true, rc));
            const int64_t H = rc.hidden;
            std::vector<C> p(static_cast<size_t>(rc.numDir * 3 * H), C(0));
            if (ctx.hasInput(7)) {
                KILN_RETURN_IF_ERROR(expectShape(ctx.input(7), "P", {rc.numDir, 3 * H}));
                p = toCompute<T>(ctx.input(7));
            }
            const int64_t inputForget = ctx.attrs().getInt("input_forget", 0);
            std::vector<C> xw(static_cast<size_t>(4 * H));
            std::vector<C> hr(static_cast<size_t>(4 * H));
            return runRecurrence<T>(ctx, rc, true, [&](int64_t d, const C* x, C* h, C* c) {
                matVec(rc.W(d), 4 * H, rc.inputSize, x, rc.Wb(d), xw.data());
                matVec(rc.R(d), 4 * H, H, h, rc.Rb(d), hr.data());
                const Activation& f = rc.acts[static_cast<size_t>(d * 3)];
                const Activation& g = rc.acts[static_cast<size_t>(d * 3 + 1)];
                const Activation& hAct = rc.acts[static_cast<size_t>(d * 3 + 2)];
                const C* pi = p.data() + d * 3 * H;
                const C* po = pi + H;
                const C* pf = pi + 2 * H;
                // Gate order iofc.
                for (int64_t k = 0; k < H; ++k) {
                    const C it = applyActivation(f, rc.clipped(xw[k] + hr[k] + pi[k] * c[k]));
                    C ft = applyActivation(f, rc.clipped(xw[2 * H + k] + hr[2 * H + k] + pf[k] * c[k]));
                    if (inputForget != 0) ft = C(1) - it;
                    const C ct = applyActivation(g, rc.clipped(xw[3 * H + k] + hr[3 * H + k]));
                    const C cNew = ft * c[k] + it * ct;
                    const C ot = applyActivation(f, rc.clipped(xw[H + k] + hr[H + k] + po[k] * cNew));
                    c[k] = cNew;
                    h[k] = ot * applyActivation(hAct, cNew);
                }
            });
        },
        kRnnDtypes);
}

Status kernelGRU(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 6));
    return dispatchFloat(
        ctx.input(0).dtype(),
        [&]<typename T>() -> Status {
            using C = ComputeT<T>;
            Recurrence<C> rc;
            KILN_RETURN_IF_ERROR(loadCommon<T>(ctx, 3, {"Sigmoid", "Tanh"}, false, rc));
            const int64_t H = rc.hidden;
            const bool linearBeforeReset = ctx.attrs().getInt("linear_before_reset", 0) != 0;
            std::vector<C> xw(static_cast<size_t>(3 * H));
            std::vector<C> hr(static_cast<size_t>(3 * H));
            std::vector<C> z(static_cast<size_t>(H));
            std::vector<C> rh(static_cast<size_t>(H));
            std::vector<C> rhR(static_cast<size_t>(H));
            return runRecurrence<T>(ctx, rc, false, [&](int64_t d, const C* x, C* h, C*) {
                matVec(rc.W(d), 3 * H, rc.inputSize, x, rc.Wb(d), xw.data());
                matVec(rc.R(d), 3 * H, H, h, rc.Rb(d), hr.data());
                const Activation& f = rc.acts[static_cast<size_t>(d * 2)];
                const Activation& g = rc.acts[static_cast<size_t>(d * 2 + 1)];
                // Gate order zrh.
                for (int64_t k = 0; k < H; ++k) {
                    z[k] = applyActivation(f, rc.clipped(xw[k] + hr[k]));
                    const C r = applyActivation(f, rc.clipped(xw[H + k] + hr[H + k]));
                    rh[k] = r * h[k];
                    rhR[k] = r * hr[2 * H + k];  // r * (Rh h + Rbh), the linear_before_reset form
                }
                if (!linearBeforeReset) {
                    // Rh (r . h) + Rbh replaces r * (Rh h + Rbh).
                    matVec(rc.R(d) + 2 * H * H, H, H, rh.data(), rc.Rb(d) + 2 * H, rhR.data());
                }
                for (int64_t k = 0; k < H; ++k) {
                    const C ht = applyActivation(g, rc.clipped(xw[2 * H + k] + rhR[k]));
                    h[k] = (C(1) - z[k]) * ht + z[k] * h[k];
                }
            });
        },
        kRnnDtypes);
}

Status kernelRNN(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 6));
    return dispatchFloat(
        ctx.input(0).dtype(),
        [&]<typename T>() -> Status {
            using C = ComputeT<T>;
            Recurrence<C> rc;
            KILN_RETURN_IF_ERROR(loadCommon<T>(ctx, 1, {"Tanh"}, false, rc));
            const int64_t H = rc.hidden;
            std::vector<C> xw(static_cast<size_t>(H));
            std::vector<C> hr(static_cast<size_t>(H));
            return runRecurrence<T>(ctx, rc, false, [&](int64_t d, const C* x, C* h, C*) {
                matVec(rc.W(d), H, rc.inputSize, x, rc.Wb(d), xw.data());
                matVec(rc.R(d), H, H, h, rc.Rb(d), hr.data());
                const Activation& f = rc.acts[static_cast<size_t>(d)];
                for (int64_t k = 0; k < H; ++k) h[k] = applyActivation(f, rc.clipped(xw[k] + hr[k]));
            });
        },
        kRnnDtypes);
}

}  // namespace kiln::cpu
