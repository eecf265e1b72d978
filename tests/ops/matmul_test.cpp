// MatMul, Gemm, Einsum, Det against naive loops and hand-computed values.
#include <cmath>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

//! Reference batched matmul in double with numpy broadcasting, written with explicit index arithmetic.
Tensor naiveMatMul(const Tensor& a, const Tensor& b, DataType outType) {
    Shape as = a.shape(), bs = b.shape();
    if (as.size() == 1) as.insert(as.begin(), 1);
    if (bs.size() == 1) bs.push_back(1);
    const size_t rank = std::max(as.size(), bs.size());
    while (as.size() < rank) as.insert(as.begin(), 1);
    while (bs.size() < rank) bs.insert(bs.begin(), 1);
    const int64_t M = as[rank - 2], K = as[rank - 1], N = bs[rank - 1];
    Shape batch;
    for (size_t i = 0; i + 2 < rank; ++i) batch.push_back(as[i] == 1 ? bs[i] : as[i]);
    Shape out = batch;
    if (a.rank() > 1) out.push_back(M);
    if (b.rank() > 1) out.push_back(N);
    Tensor y(outType, out);
    const int64_t count = shapeNumel(batch);
    for (int64_t bi = 0; bi < count; ++bi) {
        int64_t aOff = 0, bOff = 0, rest = bi, aStride = M * K, bStride = K * N;
        for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
            const int64_t idx = rest % batch[d];
            rest /= batch[d];
            aOff += (as[d] == 1 ? 0 : idx) * aStride;
            bOff += (bs[d] == 1 ? 0 : idx) * bStride;
            aStride *= as[d];
            bStride *= bs[d];
        }
        for (int64_t i = 0; i < M; ++i) {
            for (int64_t j = 0; j < N; ++j) {
                double acc = 0;
                for (int64_t k = 0; k < K; ++k) acc += a.getDouble(aOff + i * K + k) * b.getDouble(bOff + k * N + j);
                const int64_t at = (bi * M + i) * N + j;
                switch (outType) {
                    case DataType::kFloat32: y.data<float>()[at] = static_cast<float>(acc); break;
                    case DataType::kFloat64: y.data<double>()[at] = acc; break;
                    case DataType::kFloat16: y.data<Half>()[at] = Half(static_cast<float>(acc)); break;
                    case DataType::kBFloat16: y.data<BFloat16>()[at] = BFloat16(static_cast<float>(acc)); break;
                    case DataType::kInt32: y.data<int32_t>()[at] = static_cast<int32_t>(acc); break;
                    case DataType::kInt64: y.data<int64_t>()[at] = static_cast<int64_t>(acc); break;
                    case DataType::kUInt32: y.data<uint32_t>()[at] = static_cast<uint32_t>(acc); break;
                    case DataType::kUInt64: y.data<uint64_t>()[at] = static_cast<uint64_t>(acc); break;
                    default: break;
                }
            }
        }
    }
    return y;
}

TEST(MatMul, BroadcastsBatchesAndPromotesVectors) {
    const std::vector<std::pair<Shape, Shape>> cases = {
        {{5, 7}, {7, 6}},
        {{3, 1, 5, 7}, {4, 7, 6}},
        {{2, 5, 7}, {7, 3}},  // shared B: one big GEMM
        {{7}, {7, 6}},
        {{5, 7}, {7}},
        {{7}, {7}},  // 1-D promotion
        {{2, 3, 7}, {7}},
        {{7}, {2, 7, 3}},
        {{1, 5, 7}, {3, 7, 2}},
        {{5, 0}, {0, 6}},
        {{0, 5, 7}, {7, 2}},
        {{127, 1}, {1, 5}},
    };
    for (const auto& [as, bs] : cases) {
        Tensor a = randomTensor(DataType::kFloat32, as, 1);
        Tensor b = randomTensor(DataType::kFloat32, bs, 2);
        auto out = OpTester("MatMul").input(a).input(b).run();
        ASSERT_TRUE(out.isOk()) << shapeToString(as) << " x " << shapeToString(bs) << ": " << out.status().message();
        expectTensorNear((*out)[0], naiveMatMul(a, b, DataType::kFloat32), 1e-5, 1e-5);
    }
}

TEST(MatMul, EveryDtype) {
    for (DataType t : {DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32, DataType::kInt64,
                       DataType::kUInt32, DataType::kUInt64}) {
        Tensor a = randomTensor(t, {2, 3, 13}, 3, -9, 9);
        Tensor b = randomTensor(t, {13, 4}, 4, -9, 9);
        auto out = OpTester("MatMul").input(a).input(b).run();
        ASSERT_TRUE(out.isOk()) << dataTypeName(t) << ": " << out.status().message();
        const double tol = t == DataType::kBFloat16  ? 2e-2
                           : t == DataType::kFloat16 ? 2e-3
                           : t == DataType::kFloat64 ? 1e-12
                                                     : 0;
        expectTensorNear((*out)[0], naiveMatMul(a, b, t), tol, tol);
    }
}

TEST(MatMul, RejectsMismatchedInnerDims) {
    auto out =
        OpTester("MatMul").input(Tensor(DataType::kFloat32, {2, 3})).input(Tensor(DataType::kFloat32, {4, 2})).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("2x3"), std::string::npos) << out.status().message();
    EXPECT_FALSE(OpTester("MatMul")
                     .input(Tensor(DataType::kFloat32, {2, 3}))
                     .input(Tensor(DataType::kFloat64, {3, 2}))
                     .run()
                     .isOk());
    EXPECT_FALSE(
        OpTester("MatMul").input(Tensor::scalar<float>(1)).input(Tensor(DataType::kFloat32, {1})).run().isOk());
    EXPECT_FALSE(OpTester("MatMul")
                     .input(Tensor(DataType::kFloat32, {2, 2, 3}))
                     .input(Tensor(DataType::kFloat32, {3, 3, 1}))
                     .run()
                     .isOk());
}

TEST(Gemm, TransposesScalesAndBroadcastsC) {
    const int64_t M = 5, K = 7, N = 6;
    const std::vector<Shape> cShapes = {{}, {N}, {1, N}, {M, 1}, {M, N}, {1}};
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16}) {
        for (int transA = 0; transA < 2; ++transA) {
            for (int transB = 0; transB < 2; ++transB) {
                for (const Shape& cs : cShapes) {
                    Tensor a = randomTensor(t, transA ? Shape{K, M} : Shape{M, K}, 5);
                    Tensor b = randomTensor(t, transB ? Shape{N, K} : Shape{K, N}, 6);
                    Tensor c = randomTensor(t, cs, 7);
                    auto out = OpTester("Gemm", 13)
                                   .input(a)
                                   .input(b)
                                   .input(c)
                                   .attr("transA", int64_t{transA})
                                   .attr("transB", int64_t{transB})
                                   .attr("alpha", 0.5f)
                                   .attr("beta", -2.0f)
                                   .run();
                    ASSERT_TRUE(out.isOk()) << out.status().message();
                    const Tensor& y = (*out)[0];
                    ASSERT_EQ(y.shape(), (Shape{M, N}));
                    for (int64_t i = 0; i < M; ++i) {
                        for (int64_t j = 0; j < N; ++j) {
                            double acc = 0;
                            for (int64_t k = 0; k < K; ++k) {
                                acc += a.getDouble(transA ? k * M + i : i * K + k) *
                                       b.getDouble(transB ? j * K + k : k * N + j);
                            }
                            const int64_t ci = cs.size() == 2 ? (cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j)
                                               : cs.size() == 1 && cs[0] == N ? j
                                                                              : 0;
                            const double want = 0.5 * acc - 2.0 * c.getDouble(ci);
                            EXPECT_NEAR(y.getDouble(i * N + j), want, t == DataType::kFloat16 ? 2e-2 : 1e-5);
                        }
                    }
                }
            }
        }
    }
}

TEST(Gemm, WithoutCAndIntegers) {
    Tensor a = randomTensor(DataType::kFloat32, {3, 4}, 8);
    Tensor b = randomTensor(DataType::kFloat32, {4, 2}, 9);
    auto out = OpTester("Gemm", 13).input(a).input(b).attr("alpha", 2.0f).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Tensor want = naiveMatMul(a, b, DataType::kFloat32);
    for (int64_t i = 0; i < want.numel(); ++i) want.data<float>()[i] *= 2;
    expectTensorNear((*out)[0], want);

    for (DataType t : {DataType::kInt32, DataType::kInt64, DataType::kUInt32, DataType::kUInt64}) {
        Tensor ia = randomTensor(t, {3, 4}, 10, 0, 9);
        Tensor ib = randomTensor(t, {4, 2}, 11, 0, 9);
        Tensor ic = randomTensor(t, {2}, 12, 0, 9);
        auto r = OpTester("Gemm", 13).input(ia).input(ib).input(ic).run();
        ASSERT_TRUE(r.isOk()) << dataTypeName(t) << ": " << r.status().message();
        Tensor w = naiveMatMul(ia, ib, t);
        for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(r.value()[0].getDouble(i), w.getDouble(i) + ic.getDouble(i % 2));
    }
}

TEST(Gemm, RejectsBadShapes) {
    Tensor a(DataType::kFloat32, {3, 4});
    EXPECT_FALSE(OpTester("Gemm", 13).input(a).input(Tensor(DataType::kFloat32, {3, 2})).run().isOk());
    EXPECT_FALSE(OpTester("Gemm", 13)
                     .input(a)
                     .input(Tensor(DataType::kFloat32, {4, 2}))
                     .input(Tensor(DataType::kFloat32, {3}))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("Gemm", 13)
                     .input(Tensor(DataType::kFloat32, {4}))
                     .input(Tensor(DataType::kFloat32, {4, 2}))
                     .run()
                     .isOk());
}

// ---- Einsum

Result<std::vector<Tensor>> einsum(const std::string& eq, const std::vector<Tensor>& ins) {
    OpTester t("Einsum", 12);
    for (const auto& in : ins) t.input(in);
    return t.attr("equation", eq).run();
}

TEST(Einsum, MatmulTransposeAndImplicitOutput) {
    Tensor a = randomTensor(DataType::kFloat32, {5, 7}, 1);
    Tensor b = randomTensor(DataType::kFloat32, {7, 3}, 2);
    for (const char* eq : {"ij,jk->ik", "ij,jk", "ij, jk -> ik"}) {
        auto out = einsum(eq, {a, b});
        ASSERT_TRUE(out.isOk()) << eq << ": " << out.status().message();
        expectTensorNear((*out)[0], naiveMatMul(a, b, DataType::kFloat32), 1e-5, 1e-6);
    }
    // Implicit output sorts the labels: "ji" means "ji->ij", a transpose.
    auto t = einsum("ji", {a});
    ASSERT_TRUE(t.isOk());
    ASSERT_EQ((*t)[0].shape(), (Shape{7, 5}));
    for (int64_t i = 0; i < 5; ++i) {
        for (int64_t j = 0; j < 7; ++j) EXPECT_EQ((*t)[0].data<float>()[j * 5 + i], a.data<float>()[i * 7 + j]);
    }
    auto sum = einsum("ij->", {a});
    ASSERT_TRUE(sum.isOk());
    double s = 0;
    for (int64_t i = 0; i < 35; ++i) s += a.data<float>()[i];
    EXPECT_NEAR((*sum)[0].data<float>()[0], s, 1e-5);
    EXPECT_EQ((*sum)[0].rank(), 0);
}

TEST(Einsum, DiagonalTraceOuterAndThreeOperands) {
    Tensor m = randomTensor(DataType::kFloat64, {4, 4}, 3);
    auto trace = einsum("ii", {m});
    auto diag = einsum("ii->i", {m});
    ASSERT_TRUE(trace.isOk() && diag.isOk());
    double tr = 0;
    for (int64_t i = 0; i < 4; ++i) {
        tr += m.data<double>()[i * 5];
        EXPECT_EQ((*diag)[0].data<double>()[i], m.data<double>()[i * 5]);
    }
    EXPECT_NEAR((*trace)[0].data<double>()[0], tr, 1e-12);

    Tensor u = randomTensor(DataType::kFloat64, {3}, 4);
    Tensor v = randomTensor(DataType::kFloat64, {5}, 5);
    auto outer = einsum("i,j->ij", {u, v});
    ASSERT_TRUE(outer.isOk());
    for (int64_t i = 0; i < 15; ++i)
        EXPECT_EQ((*outer)[0].data<double>()[i], u.data<double>()[i / 5] * v.data<double>()[i % 5]);

    Tensor a = randomTensor(DataType::kFloat64, {2, 3}, 6);
    Tensor b = randomTensor(DataType::kFloat64, {3, 4}, 7);
    Tensor c = randomTensor(DataType::kFloat64, {4, 5}, 8);
    auto abc = einsum("ij,jk,kl->il", {a, b, c});
    ASSERT_TRUE(abc.isOk()) << abc.status().message();
    expectTensorNear((*abc)[0], naiveMatMul(naiveMatMul(a, b, DataType::kFloat64), c, DataType::kFloat64), 1e-12,
                     1e-12);
}

TEST(Einsum, EllipsisBroadcastAndBatchDiagonal) {
    Tensor a = randomTensor(DataType::kFloat32, {2, 1, 5, 7}, 9);
    Tensor b = randomTensor(DataType::kFloat32, {3, 7, 4}, 10);
    auto out = einsum("...ij,...jk->...ik", {a, b});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[0], naiveMatMul(a, b, DataType::kFloat32), 1e-5, 1e-6);

    Tensor x = randomTensor(DataType::kFloat32, {3, 5, 5}, 11);
    auto d = einsum("...ii->...i", {x});
    ASSERT_TRUE(d.isOk()) << d.status().message();
    ASSERT_EQ((*d)[0].shape(), (Shape{3, 5}));
    for (int64_t bi = 0; bi < 3; ++bi) {
        for (int64_t i = 0; i < 5; ++i) EXPECT_EQ((*d)[0].data<float>()[bi * 5 + i], x.data<float>()[bi * 25 + i * 6]);
    }
}

TEST(Einsum, IntegersAndErrors) {
    Tensor a = randomTensor(DataType::kInt64, {3, 4}, 12, -5, 5);
    Tensor b = randomTensor(DataType::kInt64, {4}, 13, -5, 5);
    auto out = einsum("ij,j->i", {a, b});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], naiveMatMul(a, b, DataType::kInt64));
    EXPECT_FALSE(einsum("ij,jk->ik", {a}).isOk());                                             // operand count
    EXPECT_FALSE(einsum("ijk", {a}).isOk());                                                   // rank mismatch
    EXPECT_FALSE(einsum("ij,jk->ik", {a, randomTensor(DataType::kInt64, {5, 2}, 1)}).isOk());  // size mismatch
    EXPECT_FALSE(einsum("ij->iz", {a}).isOk());                                                // unknown output label
    EXPECT_FALSE(einsum("i1", {b}).isOk());                                                    // bad character
}

TEST(Det, BatchedAndSingular) {
    // [[2, 1], [4, 5]] → 6; [[0, 1], [1, 0]] → -1 (needs a pivot); singular → 0.
    Tensor x = Tensor::fromVector<float>({2, 1, 4, 5, 0, 1, 1, 0, 1, 2, 2, 4}, {3, 2, 2});
    auto out = OpTester("Det", 11).input(x).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[0], Tensor::fromVector<float>({6, -1, 0}, {3}));
    // 3x3 by cofactor expansion.
    Tensor m = randomTensor(DataType::kFloat64, {2, 2, 3, 3}, 14);
    auto r = OpTester("Det", 11).input(m).run();
    ASSERT_TRUE(r.isOk());
    ASSERT_EQ((*r)[0].shape(), (Shape{2, 2}));
    for (int64_t bi = 0; bi < 4; ++bi) {
        const double* a = m.data<double>() + bi * 9;
        const double want = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
                            a[2] * (a[3] * a[7] - a[4] * a[6]);
        EXPECT_NEAR((*r)[0].data<double>()[bi], want, 1e-12);
    }
    auto h = OpTester("Det", 11).input(Tensor::fromVector<float>({3}, {1, 1})).run();
    ASSERT_TRUE(h.isOk());
    EXPECT_EQ((*h)[0].data<float>()[0], 3.0f);
    EXPECT_FALSE(OpTester("Det", 11).input(Tensor(DataType::kFloat32, {2, 3})).run().isOk());
    EXPECT_FALSE(OpTester("Det", 11).input(Tensor(DataType::kInt32, {2, 2})).run().isOk());
}

}  // namespace
}  // namespace kiln::testing
