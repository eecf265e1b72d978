// LSTM / GRU / RNN against hand-computed values and against a naive reference written here from the ONNX
// equations (all batch rows stepped together in global time order with a length mask, in double).
#include <algorithm>
#include <cstring>
#include <optional>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

enum class Cell { kLstm, kGru, kRnn };

struct Act {
    std::string name;
    double alpha = 0;
    double beta = 0;
};

double applyAct(const Act& a, double x) {
    if (a.name == "Sigmoid") return 1.0 / (1.0 + std::exp(-x));
    if (a.name == "Tanh") return std::tanh(x);
    if (a.name == "Relu") return std::max(0.0, x);
    if (a.name == "HardSigmoid") return std::clamp(a.alpha * x + a.beta, 0.0, 1.0);
    if (a.name == "Affine") return a.alpha * x + a.beta;
    if (a.name == "LeakyRelu") return x >= 0 ? x : a.alpha * x;
    if (a.name == "ThresholdedRelu") return x > a.alpha ? x : 0.0;
    if (a.name == "ScaledTanh") return a.alpha * std::tanh(a.beta * x);
    if (a.name == "Elu") return x >= 0 ? x : a.alpha * (std::exp(x) - 1);
    if (a.name == "Softsign") return x / (1 + std::fabs(x));
    if (a.name == "Softplus") return std::log(1 + std::exp(x));
    ADD_FAILURE() << "unknown activation " << a.name;
    return 0;
}

//! A recurrent layer problem in layout 0, with everything optional present (zeros when unused).
struct Problem {
    Cell cell = Cell::kLstm;
    int64_t T = 1, B = 1, I = 1, H = 1, D = 1;
    bool reverse = false;
    Tensor x, w, r, b, h0, c0, p;
    std::vector<int64_t> lens;
    std::vector<Act> acts;  //!< per direction, concatenated
    std::optional<double> clip;
    bool lbr = false;
    bool inputForget = false;

    int64_t gates() const { return cell == Cell::kLstm ? 4 : cell == Cell::kGru ? 3 : 1; }
};

Problem makeProblem(Cell cell, int64_t T, int64_t B, int64_t I, int64_t H, int64_t D, uint32_t seed,
                    DataType dt = DataType::kFloat32) {
    Problem pr;
    pr.cell = cell;
    pr.T = T, pr.B = B, pr.I = I, pr.H = H, pr.D = D;
    const int64_t G = pr.gates();
    pr.x = randomTensor(dt, {T, B, I}, seed);
    pr.w = randomTensor(dt, {D, G * H, I}, seed + 1, -0.6, 0.6);
    pr.r = randomTensor(dt, {D, G * H, H}, seed + 2, -0.6, 0.6);
    pr.b = randomTensor(dt, {D, 2 * G * H}, seed + 3, -0.3, 0.3);
    pr.h0 = randomTensor(dt, {D, B, H}, seed + 4);
    pr.c0 = randomTensor(dt, {D, B, H}, seed + 5);
    pr.p = randomTensor(dt, {D, 3 * H}, seed + 6, -0.5, 0.5);
    pr.lens.assign(static_cast<size_t>(B), T);
    const std::vector<std::string> defaults = cell == Cell::kLstm  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                              : cell == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                                   : std::vector<std::string>{"Tanh"};
    for (int64_t d = 0; d < D; ++d)
        for (const auto& n : defaults) pr.acts.push_back({n});
    return pr;
}

struct RefOut {
    std::vector<double> y;   // [T][D][B][H]
    std::vector<double> yh;  // [D][B][H]
    std::vector<double> yc;
};

RefOut reference(const Problem& pr) {
    const int64_t T = pr.T, B = pr.B, I = pr.I, H = pr.H, D = pr.D, G = pr.gates();
    RefOut out;
    out.y.assign(static_cast<size_t>(T * D * B * H), 0.0);
    out.yh.assign(static_cast<size_t>(D * B * H), 0.0);
    out.yc.assign(static_cast<size_t>(D * B * H), 0.0);
    const size_t perDir = pr.acts.size() / static_cast<size_t>(D);
    auto clipv = [&](double v) { return pr.clip ? std::clamp(v, -*pr.clip, *pr.clip) : v; };
    for (int64_t d = 0; d < D; ++d) {
        auto W = [&](int64_t row, int64_t k) { return pr.w.getDouble((d * G * H + row) * I + k); };
        auto R = [&](int64_t row, int64_t k) { return pr.r.getDouble((d * G * H + row) * H + k); };
        auto Wb = [&](int64_t row) { return pr.b.getDouble(d * 2 * G * H + row); };
        auto Rb = [&](int64_t row) { return pr.b.getDouble(d * 2 * G * H + G * H + row); };
        auto P = [&](int64_t row) { return pr.p.defined() ? pr.p.getDouble(d * 3 * H + row) : 0.0; };
        const Act& f = pr.acts[static_cast<size_t>(d) * perDir];
        const Act& g = pr.acts[std::min(static_cast<size_t>(d) * perDir + 1, pr.acts.size() - 1)];
        const Act& hAct = pr.acts[std::min(static_cast<size_t>(d) * perDir + 2, pr.acts.size() - 1)];
        // Hidden and cell state, [B][H].
        std::vector<std::vector<double>> h(static_cast<size_t>(B)), c(static_cast<size_t>(B));
        for (int64_t b = 0; b < B; ++b)
            for (int64_t j = 0; j < H; ++j) {
                h[b].push_back(pr.h0.defined() ? pr.h0.getDouble((d * B + b) * H + j) : 0.0);
                c[b].push_back(pr.c0.defined() ? pr.c0.getDouble((d * B + b) * H + j) : 0.0);
            }
        const bool backward = pr.reverse || d == 1;
        for (int64_t s = 0; s < T; ++s) {
            const int64_t t = backward ? T - 1 - s : s;
            for (int64_t b = 0; b < B; ++b) {
                if (t >= pr.lens[static_cast<size_t>(b)]) continue;
                auto xg = [&](int64_t row) {
                    double acc = Wb(row);
                    for (int64_t k = 0; k < I; ++k) acc += W(row, k) * pr.x.getDouble((t * B + b) * I + k);
                    return acc;
                };
                auto hg = [&](int64_t row, const std::vector<double>& hv) {
                    double acc = Rb(row);
                    for (int64_t k = 0; k < H; ++k) acc += R(row, k) * hv[k];
                    return acc;
                };
                std::vector<double> hn(static_cast<size_t>(H)), cn(static_cast<size_t>(H));
                if (pr.cell == Cell::kLstm) {
                    for (int64_t j = 0; j < H; ++j) {
                        const double it = applyAct(f, clipv(xg(j) + hg(j, h[b]) + P(j) * c[b][j]));
                        double ft = applyAct(f, clipv(xg(2 * H + j) + hg(2 * H + j, h[b]) + P(2 * H + j) * c[b][j]));
                        if (pr.inputForget) ft = 1 - it;
                        const double ct = applyAct(g, clipv(xg(3 * H + j) + hg(3 * H + j, h[b])));
                        cn[j] = ft * c[b][j] + it * ct;
                        const double ot = applyAct(f, clipv(xg(H + j) + hg(H + j, h[b]) + P(H + j) * cn[j]));
                        hn[j] = ot * applyAct(hAct, cn[j]);
                    }
                } else if (pr.cell == Cell::kGru) {
                    std::vector<double> rh(static_cast<size_t>(H));
                    std::vector<double> z(static_cast<size_t>(H)), rg(static_cast<size_t>(H));
                    for (int64_t j = 0; j < H; ++j) {
                        z[j] = applyAct(f, clipv(xg(j) + hg(j, h[b])));
                        rg[j] = applyAct(f, clipv(xg(H + j) + hg(H + j, h[b])));
                        rh[j] = rg[j] * h[b][j];
                    }
                    for (int64_t j = 0; j < H; ++j) {
                        const double pre =
                            pr.lbr ? xg(2 * H + j) + rg[j] * hg(2 * H + j, h[b]) : xg(2 * H + j) + hg(2 * H + j, rh);
                        const double ht = applyAct(g, clipv(pre));
                        hn[j] = (1 - z[j]) * ht + z[j] * h[b][j];
                    }
                } else {
                    for (int64_t j = 0; j < H; ++j) hn[j] = applyAct(f, clipv(xg(j) + hg(j, h[b])));
                }
                h[b] = hn;
                if (pr.cell == Cell::kLstm) c[b] = cn;
                for (int64_t j = 0; j < H; ++j) out.y[static_cast<size_t>(((t * D + d) * B + b) * H + j)] = hn[j];
            }
        }
        for (int64_t b = 0; b < B; ++b)
            for (int64_t j = 0; j < H; ++j) {
                out.yh[static_cast<size_t>((d * B + b) * H + j)] = h[b][j];
                out.yc[static_cast<size_t>((d * B + b) * H + j)] = c[b][j];
            }
    }
    return out;
}

const char* opName(Cell c) { return c == Cell::kLstm ? "LSTM" : c == Cell::kGru ? "GRU" : "RNN"; }

//! Transposes dims (a, b) of a rank-3 or rank-4 tensor (a < b among the first two / three axes).
Tensor swapDims(const Tensor& t, std::vector<int64_t> perm) {
    Shape s(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) s[i] = t.dim(perm[i]);
    Tensor out(t.dtype(), s);
    const int64_t rank = t.rank();
    std::vector<int64_t> stride(static_cast<size_t>(rank), 1);
    for (int64_t i = rank - 2; i >= 0; --i) stride[i] = stride[i + 1] * t.dim(i + 1);
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    const size_t es = dataTypeSize(t.dtype());
    for (int64_t o = 0; o < out.numel(); ++o) {
        int64_t rem = o, src = 0;
        for (int64_t i = rank - 1; i >= 0; --i) {
            const int64_t v = rem % s[i];
            rem /= s[i];
            src += v * stride[perm[i]];
        }
        std::memcpy(static_cast<char*>(out.raw()) + o * es, static_cast<const char*>(t.raw()) + src * es, es);
    }
    return out;
}

struct RunOptions {
    int64_t layout = 0;
    bool withB = true, withLens = false, withH0 = true, withC0 = true, withP = true;
    bool attrActs = false;
};

Result<std::vector<Tensor>> runProblem(const Problem& pr, const RunOptions& o) {
    OpTester t(opName(pr.cell));
    const bool l1 = o.layout == 1;
    t.input(l1 ? swapDims(pr.x, {1, 0, 2}) : pr.x).input(pr.w).input(pr.r);
    if (o.withB) t.input(pr.b);
    else t.absentInput();
    if (o.withLens) {
        std::vector<int32_t> lens(pr.lens.begin(), pr.lens.end());
        t.input(Tensor::fromVector<int32_t>(lens, {pr.B}));
    } else {
        t.absentInput();
    }
    if (o.withH0) t.input(l1 ? swapDims(pr.h0, {1, 0, 2}) : pr.h0);
    else t.absentInput();
    if (pr.cell == Cell::kLstm) {
        if (o.withC0) t.input(l1 ? swapDims(pr.c0, {1, 0, 2}) : pr.c0);
        else t.absentInput();
        if (o.withP) t.input(pr.p);
        else t.absentInput();
    }
    t.attr("hidden_size", pr.H);
    t.attr("direction", std::string(pr.D == 2 ? "bidirectional" : pr.reverse ? "reverse" : "forward"));
    if (o.layout != 0) t.attr("layout", o.layout);
    if (o.attrActs) {
        std::vector<std::string> names;
        std::vector<float> alphas, betas;
        for (const Act& a : pr.acts) {
            names.push_back(a.name);
            if (a.name == "HardSigmoid" || a.name == "Affine" || a.name == "LeakyRelu" || a.name == "ThresholdedRelu" ||
                a.name == "ScaledTanh" || a.name == "Elu")
                alphas.push_back(static_cast<float>(a.alpha));
            if (a.name == "HardSigmoid" || a.name == "Affine" || a.name == "ScaledTanh")
                betas.push_back(static_cast<float>(a.beta));
        }
        t.attr("activations", names);
        if (!alphas.empty()) t.attr("activation_alpha", alphas);
        if (!betas.empty()) t.attr("activation_beta", betas);
    }
    if (pr.clip) t.attr("clip", static_cast<float>(*pr.clip));
    if (pr.lbr) t.attr("linear_before_reset", int64_t{1});
    if (pr.inputForget) t.attr("input_forget", int64_t{1});
    t.outputs(pr.cell == Cell::kLstm ? 3 : 2);
    return t.run();
}

Tensor toTensor(DataType dt, const Shape& shape, const std::vector<double>& v) {
    Tensor t(dt, shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
        switch (dt) {
            case DataType::kFloat32: t.data<float>()[i] = static_cast<float>(v[i]); break;
            case DataType::kFloat64: t.data<double>()[i] = v[i]; break;
            case DataType::kFloat16: t.data<Half>()[i] = Half(static_cast<float>(v[i])); break;
            case DataType::kBFloat16: t.data<BFloat16>()[i] = BFloat16(static_cast<float>(v[i])); break;
            default: ADD_FAILURE() << "unexpected dtype";
        }
    }
    return t;
}

//! Runs a problem and checks Y, Y_h (and Y_c) against the reference.
void check(Problem pr, RunOptions o = {}, double tol = 2e-5) {
    if (!o.withB) pr.b = Tensor(pr.b.dtype(), pr.b.shape());
    if (!o.withH0) pr.h0 = Tensor(pr.h0.dtype(), pr.h0.shape());
    if (!o.withC0) pr.c0 = Tensor(pr.c0.dtype(), pr.c0.shape());
    if (!o.withP) pr.p = Tensor(pr.p.dtype(), pr.p.shape());
    const RefOut ref = reference(pr);
    auto out = runProblem(pr, o);
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const DataType dt = pr.x.dtype();
    Tensor y = toTensor(dt, {pr.T, pr.D, pr.B, pr.H}, ref.y);
    Tensor yh = toTensor(dt, {pr.D, pr.B, pr.H}, ref.yh);
    Tensor yc = toTensor(dt, {pr.D, pr.B, pr.H}, ref.yc);
    if (o.layout == 1) {
        y = swapDims(y, {2, 0, 1, 3});
        yh = swapDims(yh, {1, 0, 2});
        yc = swapDims(yc, {1, 0, 2});
    }
    expectTensorNear((*out)[0], y, tol, tol);
    expectTensorNear((*out)[1], yh, tol, tol);
    if (pr.cell == Cell::kLstm) expectTensorNear((*out)[2], yc, tol, tol);
}

TEST(RNN, HandComputedReluForwardAndReverse) {
    // h_t = relu(0.5 x_t + h_{t-1}): x = 1, 2, 3 gives 0.5, 1.5, 3; reversed 3 -> 1.5, 2 -> 2.5, 1 -> 3.
    Tensor x = Tensor::fromVector<float>({1, 2, 3}, {3, 1, 1});
    Tensor w = Tensor::fromVector<float>({0.5f}, {1, 1, 1});
    Tensor r = Tensor::fromVector<float>({1.0f}, {1, 1, 1});
    for (const std::string dir : {"forward", "reverse"}) {
        auto out = OpTester("RNN")
                       .input(x)
                       .input(w)
                       .input(r)
                       .attr("hidden_size", int64_t{1})
                       .attr("activations", std::vector<std::string>{"Relu"})
                       .attr("direction", dir)
                       .outputs(2)
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        const std::vector<float> want =
            dir == "forward" ? std::vector<float>{0.5f, 1.5f, 3.0f} : std::vector<float>{3.0f, 2.5f, 1.5f};
        expectTensorEq((*out)[0], Tensor::fromVector<float>(want, {3, 1, 1, 1}));
        expectTensorEq((*out)[1], Tensor::fromVector<float>({3.0f}, {1, 1, 1}));
    }
}

TEST(LSTM, HandComputedSingleStep) {
    // One step, hidden 1, all weights 0 except biases: i = o = f = sigmoid(0) = 0.5, c~ = tanh(1).
    // C = 0.5 * c0 + 0.5 * tanh(1) with c0 = 2; H = 0.5 * tanh(C).
    Tensor x = Tensor::fromVector<float>({0.0f}, {1, 1, 1});
    Tensor w(DataType::kFloat32, {1, 4, 1});
    Tensor r(DataType::kFloat32, {1, 4, 1});
    Tensor b = Tensor::fromVector<float>({0, 0, 0, 1, 0, 0, 0, 0}, {1, 8});
    Tensor c0 = Tensor::fromVector<float>({2.0f}, {1, 1, 1});
    auto out = OpTester("LSTM")
                   .input(x)
                   .input(w)
                   .input(r)
                   .input(b)
                   .absentInput()
                   .absentInput()
                   .input(c0)
                   .attr("hidden_size", int64_t{1})
                   .outputs(3)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const double c = 0.5 * 2.0 + 0.5 * std::tanh(1.0);
    expectTensorNear((*out)[2], Tensor::fromVector<float>({static_cast<float>(c)}, {1, 1, 1}));
    expectTensorNear((*out)[1], Tensor::fromVector<float>({static_cast<float>(0.5 * std::tanh(c))}, {1, 1, 1}));
}

TEST(LSTM, BidirectionalOddSizesWithEverything) {
    Problem pr = makeProblem(Cell::kLstm, 5, 3, 7, 6, 2, 10);
    check(pr);
}

TEST(LSTM, SequenceLensAndLayout1) {
    Problem pr = makeProblem(Cell::kLstm, 7, 4, 5, 3, 2, 20);
    pr.lens = {7, 3, 0, 5};
    check(pr, {.layout = 1, .withLens = true});
    check(pr, {.layout = 0, .withLens = true});
}

TEST(LSTM, ReverseWithoutOptionalInputs) {
    Problem pr = makeProblem(Cell::kLstm, 4, 2, 3, 5, 1, 30);
    pr.reverse = true;
    check(pr, {.withB = false, .withH0 = false, .withC0 = false, .withP = false});
}

TEST(LSTM, ActivationsClipAndInputForget) {
    Problem pr = makeProblem(Cell::kLstm, 6, 2, 3, 4, 2, 40);
    pr.acts = {{"HardSigmoid", 0.3, 0.4}, {"ScaledTanh", 1.5, 0.7}, {"Softsign"}, {"Sigmoid"}, {"Elu", 0.8},
               {"LeakyRelu", 0.05}};
    pr.clip = 0.7;
    pr.inputForget = true;
    check(pr, {.attrActs = true});
}

TEST(LSTM, DtypeSweep) {
    for (DataType dt : {DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
        SCOPED_TRACE(dataTypeName(dt));
        Problem pr = makeProblem(Cell::kLstm, 3, 2, 4, 3, 2, 50, dt);
        pr.lens = {3, 2};
        check(pr, {.withLens = true}, dt == DataType::kFloat64 ? 1e-12 : dt == DataType::kFloat16 ? 4e-3 : 3e-2);
    }
}

TEST(GRU, BidirectionalBothResetForms) {
    for (bool lbr : {false, true}) {
        SCOPED_TRACE(lbr);
        Problem pr = makeProblem(Cell::kGru, 5, 3, 7, 6, 2, 60);
        pr.lbr = lbr;
        pr.lens = {5, 1, 4};
        check(pr, {.withLens = true});
        check(pr, {.layout = 1, .withLens = true});
    }
}

TEST(GRU, ReverseActivationsAndClip) {
    Problem pr = makeProblem(Cell::kGru, 4, 2, 3, 5, 1, 70);
    pr.reverse = true;
    pr.acts = {{"Affine", 0.5, 0.1}, {"ThresholdedRelu", 0.2}};
    pr.clip = 1.2;
    check(pr, {.withB = false, .attrActs = true});
}

TEST(GRU, DtypeSweep) {
    for (DataType dt : {DataType::kFloat64, DataType::kFloat16}) {
        SCOPED_TRACE(dataTypeName(dt));
        check(makeProblem(Cell::kGru, 3, 2, 4, 3, 1, 80, dt), {}, dt == DataType::kFloat64 ? 1e-12 : 4e-3);
    }
}

TEST(RNN, BidirectionalWithLensAndActivations) {
    Problem pr = makeProblem(Cell::kRnn, 6, 3, 5, 7, 2, 90);
    pr.lens = {2, 6, 5};
    check(pr, {.withLens = true});
    pr.acts = {{"Relu"}, {"Softplus"}};
    check(pr, {.layout = 1, .withLens = true, .attrActs = true});
}

TEST(RNN, DtypeSweep) {
    for (DataType dt : {DataType::kFloat64, DataType::kFloat16}) {
        SCOPED_TRACE(dataTypeName(dt));
        check(makeProblem(Cell::kRnn, 4, 1, 2, 3, 1, 100, dt), {}, dt == DataType::kFloat64 ? 1e-12 : 4e-3);
    }
}

TEST(RNN, EmptySequenceKeepsInitialState) {
    Problem pr = makeProblem(Cell::kRnn, 0, 2, 3, 4, 1, 110);
    auto out = runProblem(pr, {});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{0, 1, 2, 4}));
    expectTensorEq((*out)[1], pr.h0);
    Problem empty = makeProblem(Cell::kGru, 3, 0, 3, 4, 2, 120);
    check(empty);
}

TEST(RNN, OnlyYhRequested) {
    Problem pr = makeProblem(Cell::kLstm, 3, 2, 2, 3, 1, 130);
    const RefOut ref = reference(pr);
    auto out = OpTester("LSTM")
                   .input(pr.x)
                   .input(pr.w)
                   .input(pr.r)
                   .input(pr.b)
                   .absentInput()
                   .input(pr.h0)
                   .input(pr.c0)
                   .input(pr.p)
                   .attr("hidden_size", int64_t{3})
                   .outputs(2)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[1], toTensor(DataType::kFloat32, {1, 2, 3}, ref.yh), 2e-5, 2e-5);
}

TEST(RNN, RejectsBadInputs) {
    Problem pr = makeProblem(Cell::kLstm, 3, 2, 4, 3, 1, 140);
    // W with the wrong gate count.
    auto out = OpTester("LSTM").input(pr.x).input(Tensor(DataType::kFloat32, {1, 9, 4})).input(pr.r).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("'W'"), std::string::npos) << out.status().message();
    // Bidirectional with one direction of weights.
    out = OpTester("LSTM").input(pr.x).input(pr.w).input(pr.r).attr("direction", std::string("bidirectional")).run();
    ASSERT_FALSE(out.isOk());
    // Unknown activation.
    out = OpTester("RNN")
              .input(Tensor(DataType::kFloat32, {2, 1, 1}))
              .input(Tensor(DataType::kFloat32, {1, 1, 1}))
              .input(Tensor(DataType::kFloat32, {1, 1, 1}))
              .attr("activations", std::vector<std::string>{"Gelu"})
              .run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("Gelu"), std::string::npos) << out.status().message();
    // sequence_lens beyond the sequence.
    out = OpTester("GRU")
              .input(Tensor(DataType::kFloat32, {2, 1, 1}))
              .input(Tensor(DataType::kFloat32, {1, 3, 1}))
              .input(Tensor(DataType::kFloat32, {1, 3, 1}))
              .absentInput()
              .input(Tensor::fromVector<int32_t>({3}, {1}))
              .run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("sequence_lens"), std::string::npos) << out.status().message();
    // hidden_size disagreeing with R.
    out = OpTester("RNN")
              .input(Tensor(DataType::kFloat32, {2, 1, 1}))
              .input(Tensor(DataType::kFloat32, {1, 2, 1}))
              .input(Tensor(DataType::kFloat32, {1, 2, 2}))
              .attr("hidden_size", int64_t{3})
              .run();
    ASSERT_FALSE(out.isOk());
    // Integer input.
    out = OpTester("RNN")
              .input(Tensor(DataType::kInt32, {2, 1, 1}))
              .input(Tensor(DataType::kInt32, {1, 1, 1}))
              .input(Tensor(DataType::kInt32, {1, 1, 1}))
              .run();
    ASSERT_FALSE(out.isOk());
}

}  // namespace
}  // namespace kiln::testing
