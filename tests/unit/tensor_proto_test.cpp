// onnx::TensorProto <-> kiln::Tensor: every dtype through its typed field and raw_data, strings, and the checks
// that run before anything is allocated.
#include <gtest/gtest.h>

#include "frontend/onnx/tensor_proto.h"
#include "ops/op_tester.h"
#include "unit/model_builder.h"

namespace kiln::testing {
namespace {

using onnx_frontend::dataTypeFromOnnx;
using onnx_frontend::inspectTensorProto;
using onnx_frontend::readTensorProtoFile;
using onnx_frontend::tensorFromProto;
using onnx_frontend::tensorToProto;

onnx::TensorProto makeProto(int32_t type, const std::vector<int64_t>& dims, const std::string& name = "t") {
    onnx::TensorProto p;
    p.set_name(name);
    p.set_data_type(type);
    for (int64_t d : dims) p.add_dims(d);
    return p;
}

Tensor decode(const onnx::TensorProto& p) {
    auto t = tensorFromProto(p, ".");
    EXPECT_TRUE(t.isOk()) << t.status().message();
    return t.isOk() ? std::move(t).value() : Tensor();
}

TEST(TensorProto, TypedFields) {
    {
        auto p = makeProto(onnx::TensorProto::FLOAT, {2});
        p.add_float_data(1.5f);
        p.add_float_data(-2.0f);
        expectTensorEq(decode(p), Tensor::fromVector<float>({1.5f, -2.0f}));
    }
    {
        auto p = makeProto(onnx::TensorProto::DOUBLE, {1});
        p.add_double_data(0.125);
        expectTensorEq(decode(p), Tensor::fromVector<double>({0.125}, {1}));
    }
    {
        auto p = makeProto(onnx::TensorProto::INT64, {2});
        p.add_int64_data(int64_t{1} << 40);
        p.add_int64_data(-3);
        expectTensorEq(decode(p), Tensor::fromVector<int64_t>({int64_t{1} << 40, -3}));
    }
    {
        // uint32 and uint64 live in uint64_data.
        auto p = makeProto(onnx::TensorProto::UINT32, {2});
        p.add_uint64_data(4000000000u);
        p.add_uint64_data(7);
        expectTensorEq(decode(p), Tensor::fromVector<uint32_t>({4000000000u, 7}));
        auto q = makeProto(onnx::TensorProto::UINT64, {1});
        q.add_uint64_data(uint64_t{1} << 63);
        EXPECT_EQ(decode(q).data<uint64_t>()[0], uint64_t{1} << 63);
    }
    {
        // Small types are widened into int32_data; float16/bfloat16 as their bit patterns.
        auto i8 = makeProto(onnx::TensorProto::INT8, {2});
        i8.add_int32_data(-128);
        i8.add_int32_data(127);
        expectTensorEq(decode(i8), Tensor::fromVector<int8_t>({-128, 127}));
        auto u8 = makeProto(onnx::TensorProto::UINT8, {1});
        u8.add_int32_data(255);
        expectTensorEq(decode(u8), Tensor::fromVector<uint8_t>({255}, {1}));
        auto i16 = makeProto(onnx::TensorProto::INT16, {1});
        i16.add_int32_data(-30000);
        expectTensorEq(decode(i16), Tensor::fromVector<int16_t>({-30000}, {1}));
        auto u16 = makeProto(onnx::TensorProto::UINT16, {1});
        u16.add_int32_data(65535);
        expectTensorEq(decode(u16), Tensor::fromVector<uint16_t>({65535}, {1}));
        auto i32 = makeProto(onnx::TensorProto::INT32, {1});
        i32.add_int32_data(-5);
        expectTensorEq(decode(i32), Tensor::fromVector<int32_t>({-5}, {1}));
        auto b = makeProto(onnx::TensorProto::BOOL, {3});
        b.add_int32_data(1);
        b.add_int32_data(0);
        b.add_int32_data(1);
        expectTensorEq(decode(b), Tensor::fromVector<bool>({true, false, true}));
        auto h = makeProto(onnx::TensorProto::FLOAT16, {2});
        h.add_int32_data(0x3c00);  // 1.0
        h.add_int32_data(0xc000);  // -2.0
        const Tensor half = decode(h);
        ASSERT_EQ(half.dtype(), DataType::kFloat16);
        EXPECT_EQ(static_cast<float>(half.data<Half>()[0]), 1.0f);
        EXPECT_EQ(static_cast<float>(half.data<Half>()[1]), -2.0f);
        auto bf = makeProto(onnx::TensorProto::BFLOAT16, {1});
        bf.add_int32_data(0x3fc0);  // 1.5
        EXPECT_EQ(static_cast<float>(decode(bf).data<BFloat16>()[0]), 1.5f);
    }
}

TEST(TensorProto, RawDataForEveryDtypeRoundTrips) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                       DataType::kInt16, DataType::kInt32, DataType::kInt64, DataType::kUInt8, DataType::kUInt16,
                       DataType::kUInt32, DataType::kUInt64, DataType::kBool}) {
        const Tensor original = randomTensor(t, {3, 5, 7}, 42, -100, 100);
        onnx::TensorProto p;
        tensorToProto(original, "r", p);
        EXPECT_TRUE(p.has_raw_data()) << dataTypeName(t);
        EXPECT_EQ(p.name(), "r");
        EXPECT_EQ(dataTypeFromOnnx(p.data_type()), t);
        expectTensorEq(decode(p), original);
    }
}

TEST(TensorProto, StringsRoundTrip) {
    Tensor s(DataType::kString, {3});
    s.strings()[0] = "alpha";
    s.strings()[1] = "";
    s.strings()[2] = std::string("nul\0inside", 10);
    onnx::TensorProto p;
    tensorToProto(s, "s", p);
    const Tensor back = decode(p);
    ASSERT_EQ(back.dtype(), DataType::kString);
    ASSERT_EQ(back.shape(), Shape{3});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(back.strings()[i], s.strings()[i]);
}

TEST(TensorProto, ScalarsAndEmptyTensors) {
    auto scalar = makeProto(onnx::TensorProto::FLOAT, {});
    scalar.add_float_data(3.0f);
    const Tensor t = decode(scalar);
    EXPECT_EQ(t.shape(), Shape{});
    EXPECT_EQ(t.data<float>()[0], 3.0f);
    // Zero elements need no data at all, whatever the other dims claim.
    const Tensor empty = decode(makeProto(onnx::TensorProto::FLOAT, {0, int64_t{1} << 50}));
    EXPECT_EQ(empty.shape(), (Shape{0, int64_t{1} << 50}));
    EXPECT_EQ(empty.numel(), 0);
}

void expectError(const onnx::TensorProto& p, ErrorCode code, const std::string& mention) {
    auto t = tensorFromProto(p, ".");
    ASSERT_FALSE(t.isOk()) << "decoded: " << mention;
    EXPECT_EQ(t.status().code(), code) << t.status().message();
    EXPECT_NE(t.status().message().find(mention), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find("tensor '" + p.name() + "'"), std::string::npos) << t.status().message();
    // inspectTensorProto finds the same problem without allocating.
    auto info = inspectTensorProto(p, ".");
    ASSERT_FALSE(info.isOk());
    EXPECT_EQ(info.status().message(), t.status().message());
}

TEST(TensorProto, RejectsBadTensorsBeforeAllocating) {
    auto negative = makeProto(onnx::TensorProto::FLOAT, {2, -3}, "neg");
    expectError(negative, ErrorCode::kInvalidModel, "negative dimension -3");

    auto overflow = makeProto(onnx::TensorProto::FLOAT, {int64_t{1} << 40, int64_t{1} << 40}, "ovf");
    expectError(overflow, ErrorCode::kInvalidModel, "dims overflow");

    auto fewer = makeProto(onnx::TensorProto::FLOAT, {3}, "fewer");
    fewer.add_float_data(1);
    expectError(fewer, ErrorCode::kInvalidModel, "shape 3 has 3 elements but the tensor holds 1");

    auto wrongField = makeProto(onnx::TensorProto::INT64, {1}, "field");
    wrongField.add_int32_data(1);  // int64 belongs in int64_data
    expectError(wrongField, ErrorCode::kInvalidModel, "holds 0");

    auto raw = makeProto(onnx::TensorProto::INT32, {4}, "raw");
    raw.set_raw_data(std::string(15, '\0'));
    expectError(raw, ErrorCode::kInvalidModel, "needs 16 bytes but raw_data holds 15");

    auto strings = makeProto(onnx::TensorProto::STRING, {2}, "str");
    strings.add_string_data("only one");
    expectError(strings, ErrorCode::kInvalidModel, "holds 1");

    auto complex = makeProto(onnx::TensorProto::COMPLEX64, {1}, "cplx");
    expectError(complex, ErrorCode::kUnsupported, "element type 14 is not supported");

    auto segmented = makeProto(onnx::TensorProto::FLOAT, {1}, "seg");
    segmented.add_float_data(1);
    segmented.mutable_segment()->set_begin(0);
    expectError(segmented, ErrorCode::kUnsupported, "segmented tensors are not supported");

    auto noLocation = makeProto(onnx::TensorProto::FLOAT, {1}, "ext");
    noLocation.set_data_location(onnx::TensorProto::EXTERNAL);
    expectError(noLocation, ErrorCode::kInvalidModel, "external data has no location");
}

TEST(TensorProto, DataTypeMapping) {
    EXPECT_EQ(dataTypeFromOnnx(onnx::TensorProto::FLOAT), DataType::kFloat32);
    EXPECT_EQ(dataTypeFromOnnx(onnx::TensorProto::BFLOAT16), DataType::kBFloat16);
    EXPECT_EQ(dataTypeFromOnnx(onnx::TensorProto::COMPLEX128), DataType::kUndefined);
    EXPECT_EQ(dataTypeFromOnnx(0), DataType::kUndefined);
    EXPECT_EQ(dataTypeFromOnnx(12345), DataType::kUndefined);
}

TEST(TensorProto, ReadsTensorFiles) {
    TempDir dir;
    onnx::TensorProto p;
    tensorToProto(Tensor::fromVector<int64_t>({1, 2, 3}), "input_0", p);
    const std::string path = dir.writeBytes("t.pb", p.SerializeAsString());
    std::string name;
    auto t = readTensorProtoFile(path, &name);
    ASSERT_TRUE(t.isOk()) << t.status().message();
    EXPECT_EQ(name, "input_0");
    expectTensorEq(*t, Tensor::fromVector<int64_t>({1, 2, 3}));

    auto missing = readTensorProtoFile(dir.file("nope.pb"));
    ASSERT_FALSE(missing.isOk());
    EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
    EXPECT_NE(missing.status().message().find("nope.pb"), std::string::npos);

    auto garbage = readTensorProtoFile(dir.writeBytes("bad.pb", std::string("\xff\xff\xff\xff", 4)));
    ASSERT_FALSE(garbage.isOk());
    EXPECT_NE(garbage.status().message().find("bad.pb"), std::string::npos) << garbage.status().message();
}

}  // namespace
}  // namespace kiln::testing
