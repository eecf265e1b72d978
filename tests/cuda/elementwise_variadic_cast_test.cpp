// CUDA variadic ops (Sum Mean Max Min), Where, Cast and CastLike against the CPU reference, and the fused-op
// epilogue helper (parseFusedActivation / launchFusedEpilogue) against the CPU's FusedMatMul.
#include <cuda_runtime.h>

#include <string>

#include "backends/cpu/kernel.h"
#include "backends/cuda/kernels/elementwise_activation.h"
#include "cuda/elementwise_test_util.h"
#include "ir/attribute.h"

namespace kiln::testing {
namespace {

TEST(CudaVariadic, EveryOpEveryDtypeWithBroadcasting) {
    KILN_REQUIRE_GPU();
    for (const char* op : {"Sum", "Mean", "Max", "Min"}) {
        const bool floatOnly = std::string(op) == "Sum" || std::string(op) == "Mean";
        for (DataType t : floatOnly ? kFloatTypes : numericTypes()) {
            SCOPED_TRACE(std::string(op) + " " + dataTypeName(t));
            expectCudaMatchesCpu(OpTester(op).input(randomOf(t, kTail)), kExact);
            expectCudaMatchesCpu(OpTester(op).input(randomOf(t, kTail)).input(randomOf(t, kTail)), kExact);
            expectCudaMatchesCpu(
                OpTester(op).input(randomOf(t, {5, 1, 7})).input(randomOf(t, {6, 1})).input(randomOf(t, {})), kExact);
        }
    }
}

TEST(CudaVariadic, ManyInputsTakeSeveralPasses) {
    KILN_REQUIRE_GPU();
    // 19 inputs: passes of 8, 8 and 3 through the float accumulator; float16 rounds only once at the end.
    for (const char* op : {"Sum", "Mean", "Max"}) {
        for (DataType t : {DataType::kFloat16, DataType::kFloat32}) {
            SCOPED_TRACE(std::string(op) + " " + dataTypeName(t));
            OpTester tester(op);
            for (int i = 0; i < 19; ++i) tester.input(randomOf(t, i % 3 == 0 ? Shape{6, 1} : Shape{5, 6, 7}));
            expectCudaMatchesCpu(tester, kExact);
        }
    }
    OpTester ints("Min");
    for (int i = 0; i < 9; ++i) ints.input(randomOf(DataType::kInt64, i == 4 ? Shape{7} : kOdd, -1000, 1000));
    expectCudaMatchesCpu(ints, kExact);
}

TEST(CudaVariadic, NaNPropagatesAndErrorsMatch) {
    KILN_REQUIRE_GPU();
    for (const char* op : {"Max", "Min", "Sum"}) {
        expectCudaMatchesCpu(OpTester(op)
                                 .input(specialValues(DataType::kFloat32))
                                 .input(randomOf(DataType::kFloat32, {64}))
                                 .input(specialValues(DataType::kFloat32)),
                             kExact);
    }
    expectCudaMatchesCpu(OpTester("Sum").input(randomOf(DataType::kInt32, kOdd)));
    expectCudaMatchesCpu(
        OpTester("Max").input(randomOf(DataType::kFloat32, kOdd)).input(randomOf(DataType::kFloat16, kOdd)));
    expectCudaMatchesCpu(
        OpTester("Min").input(randomOf(DataType::kFloat32, {3, 4})).input(randomOf(DataType::kFloat32, {5})));
    expectCudaMatchesCpu(
        OpTester("Mean").input(randomOf(DataType::kFloat32, {0, 4})).input(randomOf(DataType::kFloat32, {4})), kExact);
}

TEST(CudaWhere, EveryDtypeAndThreeWayBroadcast) {
    KILN_REQUIRE_GPU();
    for (DataType t : allTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Where")
                                 .input(randomOf(DataType::kBool, kTail))
                                 .input(randomOf(t, kTail, -100, 100))
                                 .input(randomOf(t, kTail, -100, 100)),
                             kExact);
        expectCudaMatchesCpu(OpTester("Where")
                                 .input(randomOf(DataType::kBool, {5, 1, 7}))
                                 .input(randomOf(t, {6, 1}, -100, 100))
                                 .input(randomOf(t, {}, -100, 100)),
                             kExact);
    }
    expectCudaMatchesCpu(OpTester("Where")
                             .input(randomOf(DataType::kBool, {2, 1, 3, 1, 5}))
                             .input(randomOf(DataType::kFloat32, {4, 1, 6, 1}))
                             .input(randomOf(DataType::kFloat32, {1, 3, 1, 5})),
                         kExact);
    expectCudaMatchesCpu(OpTester("Where")
                             .input(randomOf(DataType::kBool, {0, 3}))
                             .input(randomOf(DataType::kFloat32, {3}))
                             .input(randomOf(DataType::kFloat32, {1})),
                         kExact);
}

TEST(CudaWhere, BadInputsFailLikeTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor x = randomOf(DataType::kFloat32, kOdd);
    expectCudaMatchesCpu(OpTester("Where").input(randomOf(DataType::kFloat32, kOdd)).input(x).input(x));
    expectCudaMatchesCpu(
        OpTester("Where").input(randomOf(DataType::kBool, kOdd)).input(x).input(randomOf(DataType::kInt32, kOdd)));
    expectCudaMatchesCpu(
        OpTester("Where").input(randomOf(DataType::kBool, {4})).input(x).input(x));  // 4 vs 7: no broadcast
}

TEST(CudaCast, EveryPairOfDtypesOnSpecialAndRandomValues) {
    KILN_REQUIRE_GPU();
    for (DataType from : allTypes()) {
        for (DataType to : allTypes()) {
            SCOPED_TRACE(std::string(dataTypeName(from)) + " -> " + dataTypeName(to));
            const auto code = static_cast<int64_t>(to);
            expectCudaMatchesCpu(OpTester("Cast").input(specialValues(from)).attr("to", code), kExact);
            expectCudaMatchesCpu(OpTester("Cast").input(randomOf(from, kTail, -300, 300)).attr("to", code), kExact);
        }
    }
}

TEST(CudaCast, CastLikeAndErrors) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(OpTester("CastLike")
                             .input(randomOf(DataType::kFloat64, kOdd, -1e6, 1e6))
                             .input(randomOf(DataType::kFloat16, {1})),
                         kExact);
    expectCudaMatchesCpu(
        OpTester("CastLike").input(randomOf(DataType::kInt8, kOdd, -100, 100)).input(randomOf(DataType::kBool, {})),
        kExact);
    expectCudaMatchesCpu(OpTester("Cast").input(randomOf(DataType::kFloat32, {})).attr("to", int64_t{16}), kExact);
    expectCudaMatchesCpu(OpTester("Cast").input(randomOf(DataType::kFloat32, {0, 2})).attr("to", int64_t{7}), kExact);
    expectCudaMatchesCpu(OpTester("Cast").input(randomOf(DataType::kFloat32, kOdd)).attr("to", int64_t{100}));
    expectCudaMatchesCpu(OpTester("Cast").input(randomOf(DataType::kFloat32, kOdd)).attr("to", int64_t{17}));
    expectCudaMatchesCpu(OpTester("Cast").input(randomOf(DataType::kFloat32, kOdd)));
}

// ---- the fused-op epilogue helper (for the Conv/Gemm/MatMul families)

TEST(CudaFusedActivation, ParsesTheFusionPassAttributes) {
    ir::Attributes attrs;
    auto parsed = cuda::parseFusedActivation(attrs);
    ASSERT_TRUE(parsed.isOk());
    EXPECT_EQ(parsed->kind, cuda::ActivationKind::kNone);
    attrs.set("activation", std::string("Clip"));
    attrs.set("activation_params", std::vector<float>{0.0f, 6.0f});
    parsed = cuda::parseFusedActivation(attrs);
    ASSERT_TRUE(parsed.isOk());
    EXPECT_EQ(parsed->kind, cuda::ActivationKind::kClip);
    EXPECT_EQ(parsed->alpha, 0.0f);
    EXPECT_EQ(parsed->beta, 6.0f);
    attrs.set("activation", std::string("HardSigmoid"));
    attrs.erase("activation_params");
    parsed = cuda::parseFusedActivation(attrs);
    ASSERT_TRUE(parsed.isOk());
    EXPECT_EQ(parsed->alpha, 0.2f);
    EXPECT_EQ(parsed->beta, 0.5f);
    attrs.set("activation", std::string("Softplus"));
    parsed = cuda::parseFusedActivation(attrs);
    ASSERT_FALSE(parsed.isOk());
    EXPECT_NE(parsed.status().message().find("Softplus"), std::string::npos) << parsed.status().message();
}

//! Device copy of a host tensor (freed by the caller).
void* upload(const Tensor& t) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(t.byteSize(), 1)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p, t.raw(), t.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    return p;
}

TEST(CudaFusedActivation, EpilogueMatchesTheCpuFusedMatMul) {
    KILN_REQUIRE_GPU();
    const std::vector<std::pair<std::string, std::vector<float>>> activations = {
        {"", {}},        {"Relu", {}},        {"LeakyRelu", {0.2f}}, {"Clip", {-0.5f, 0.5f}},
        {"Sigmoid", {}}, {"HardSigmoid", {}}, {"Tanh", {}},          {"HardSwish", {}}};
    for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
        for (const auto& [name, params] : activations) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + name);
            const Tensor a = randomOf(t, {5, 13});
            const Tensor b = randomOf(t, {13, 33});
            const Tensor bias = randomOf(t, {33});
            const Tensor z = randomOf(t, {5, 33});
            ir::Graph g("epilogue");
            ir::Node* matmul = g.addNode(ir::OpKind::kMatMul, "mm", 17);
            ir::Node* fused = g.addNode(ir::OpKind::kFusedMatMul, "fused", 1);
            fused->attrs().set("activation", name);
            if (!params.empty()) fused->attrs().set("activation_params", params);
            cpu::KernelContext base{*matmul, {&a, &b}, {}, {}};
            base.outputs.resize(1);
            ASSERT_TRUE(cpu::kernelMatMul(base).isOk());
            cpu::KernelContext want{*fused, {&a, &b, &bias, &z}, {}, {}};
            want.outputs.resize(1);
            ASSERT_TRUE(cpu::kernelFusedMatMul(want).isOk());

            Tensor y = base.outputs[0];
            void* dy = upload(y);
            void* dbias = upload(bias);
            void* dz = upload(z);
            auto act = cuda::parseFusedActivation(fused->attrs());
            ASSERT_TRUE(act.isOk());
            const Status s = cuda::launchFusedEpilogue(t, dy, y.numel(), dbias, 33, dz, *act, nullptr);
            EXPECT_TRUE(s.isOk()) << s.message();
            Tensor got(t, y.shape());
            EXPECT_EQ(cudaMemcpy(got.raw(), dy, got.byteSize(), cudaMemcpyDeviceToHost), cudaSuccess);
            for (void* p : {dy, dbias, dz}) cudaFree(p);
            const Tolerance tol = defaultTolerance(t);
            expectTensorNear(got, want.outputs[0], tol.rtol, tol.atol);
        }
    }
}

}  // namespace
}  // namespace kiln::testing
