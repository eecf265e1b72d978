// Builds small ONNX models with the protobuf API for importer tests, and a scratch folder to write them to.
//
//   onnx::ModelProto m = makeModel();
//   addInput(*m.mutable_graph(), "x", onnx::TensorProto::FLOAT, {2, 3});
//   addNode(*m.mutable_graph(), "Add", {"x", "x"}, {"y"}, "add0");
//   addOutput(*m.mutable_graph(), "y", onnx::TensorProto::FLOAT, {2, 3});
//   TempDir dir;
//   const std::string path = dir.write("add.onnx", m);
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kiln::testing {

//! A fresh folder under $TMPDIR, removed with everything in it when the object goes away.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "kiln-test-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
        mPath = pattern;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(mPath, ec);
    }

    const std::filesystem::path& path() const { return mPath; }
    std::string file(const std::string& name) const { return (mPath / name).string(); }

    //! Writes raw bytes to `name` (folders created); returns the full path.
    std::string writeBytes(const std::string& name, const std::string& bytes) const {
        const std::filesystem::path p = mPath / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream out(p, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return p.string();
    }
    //! Serializes a model to `name`; returns the full path.
    std::string write(const std::string& name, const onnx::ModelProto& model) const {
        return writeBytes(name, model.SerializeAsString());
    }

private:
    std::filesystem::path mPath;
};

inline onnx::ModelProto makeModel(int64_t opset = 17) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.set_producer_name("kiln-tests");
    auto* op = m.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    m.mutable_graph()->set_name("main");
    return m;
}

inline void setTensorType(onnx::ValueInfoProto& vi, int32_t elemType, const std::vector<int64_t>& dims) {
    auto* tt = vi.mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elemType);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

inline onnx::ValueInfoProto& addInput(onnx::GraphProto& g, const std::string& name,
                                      int32_t elemType = onnx::TensorProto::FLOAT,
                                      const std::vector<int64_t>& dims = {}) {
    auto* vi = g.add_input();
    vi->set_name(name);
    setTensorType(*vi, elemType, dims);
    return *vi;
}

inline onnx::ValueInfoProto& addOutput(onnx::GraphProto& g, const std::string& name,
                                       int32_t elemType = onnx::TensorProto::FLOAT,
                                       const std::vector<int64_t>& dims = {}) {
    auto* vi = g.add_output();
    vi->set_name(name);
    setTensorType(*vi, elemType, dims);
    return *vi;
}

//! An output with a dtype and no shape (addOutput's empty dims declare a scalar).
inline void addTypedOutput(onnx::GraphProto& g, const std::string& name, int32_t elemType) {
    auto* vi = g.add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(elemType);
}

//! An output declared with no type at all (as subgraph outputs often are).
inline void addUntypedOutput(onnx::GraphProto& g, const std::string& name) { g.add_output()->set_name(name); }

inline onnx::NodeProto& addNode(onnx::GraphProto& g, const std::string& op, const std::vector<std::string>& inputs,
                                const std::vector<std::string>& outputs, const std::string& name = "",
                                const std::string& domain = "") {
    auto* n = g.add_node();
    n->set_op_type(op);
    n->set_name(name);
    n->set_domain(domain);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return *n;
}

inline onnx::AttributeProto& addAttr(onnx::NodeProto& n, const std::string& name,
                                     onnx::AttributeProto::AttributeType type) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(type);
    return *a;
}
inline void addIntAttr(onnx::NodeProto& n, const std::string& name, int64_t v) {
    addAttr(n, name, onnx::AttributeProto::INT).set_i(v);
}
inline void addFloatAttr(onnx::NodeProto& n, const std::string& name, float v) {
    addAttr(n, name, onnx::AttributeProto::FLOAT).set_f(v);
}
inline void addIntsAttr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto& a = addAttr(n, name, onnx::AttributeProto::INTS);
    for (int64_t x : v) a.add_ints(x);
}
inline onnx::GraphProto& addGraphAttr(onnx::NodeProto& n, const std::string& name) {
    auto& a = addAttr(n, name, onnx::AttributeProto::GRAPH);
    a.mutable_g()->set_name(name);
    return *a.mutable_g();
}

//! A tensor of ONNX element type `type` whose raw_data holds `values`.
template <typename T>
onnx::TensorProto rawTensor(const std::string& name, int32_t type, const std::vector<int64_t>& dims,
                            const std::vector<T>& values) {
    onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(type);
    for (int64_t d : dims) t.add_dims(d);
    t.set_raw_data(values.data(), values.size() * sizeof(T));
    return t;
}

//! A float32 tensor with raw_data.
inline onnx::TensorProto floatTensor(const std::string& name, const std::vector<int64_t>& dims,
                                     const std::vector<float>& values) {
    return rawTensor(name, onnx::TensorProto::FLOAT, dims, values);
}

//! An int64 tensor with raw_data.
inline onnx::TensorProto int64Tensor(const std::string& name, const std::vector<int64_t>& dims,
                                     const std::vector<int64_t>& values) {
    return rawTensor(name, onnx::TensorProto::INT64, dims, values);
}

inline onnx::TensorProto& addInitializer(onnx::GraphProto& g, const onnx::TensorProto& t) {
    auto* init = g.add_initializer();
    *init = t;
    return *init;
}

//! Points a tensor's data at an external file (location relative to the model's folder).
inline void setExternal(onnx::TensorProto& t, const std::string& location, int64_t offset = -1, int64_t length = -1) {
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const std::string& k, const std::string& v) {
        auto* kv = t.add_external_data();
        kv->set_key(k);
        kv->set_value(v);
    };
    add("location", location);
    if (offset >= 0) add("offset", std::to_string(offset));
    if (length >= 0) add("length", std::to_string(length));
}

//! y = x + x on float32[2, 3]: the smallest valid model.
inline onnx::ModelProto addModel() {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 3});
    addNode(g, "Add", {"x", "x"}, {"y"}, "add0");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {2, 3});
    return m;
}

}  // namespace kiln::testing
