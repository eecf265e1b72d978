#include "plan/graph_codec.h"

#include <algorithm>
#include <limits>

#include "plan/engine_file.h"

namespace kiln::plan {

namespace {

// Bounds a hostile file cannot push past.
constexpr uint32_t kMaxRank = 64;
constexpr size_t kMaxSubgraphDepth = 24;

class GraphWriter {
public:
    Status writeGraph(const ir::Graph& g, size_t depth) {
        if (depth == 0) indexValues(g, mIndex);
        if (depth > kMaxSubgraphDepth) return invalidArgument("subgraphs nest deeper than 24 levels");
        mOut.str(g.name());
        std::vector<std::pair<std::string, int64_t>> opsets(g.opsets().begin(), g.opsets().end());
        std::sort(opsets.begin(), opsets.end());  // deterministic files for identical graphs
        mOut.u32(static_cast<uint32_t>(opsets.size()));
        for (const auto& [domain, version] : opsets) {
            mOut.str(domain);
            mOut.i64(version);
        }
        mOut.u32(static_cast<uint32_t>(g.values().size()));
        for (const auto& v : g.values()) {
            mOut.str(v->name());
            mOut.i32(static_cast<int32_t>(v->dtype()));
            const ir::SymbolicShape& shape = v->shape();
            mOut.u8(shape ? 1 : 0);
            if (shape) {
                mOut.u32(static_cast<uint32_t>(shape->size()));
                for (const ir::Dim& d : *shape) {
                    mOut.i64(d.size);
                    mOut.str(d.symbol);
                }
            }
            mOut.u8(v->isConstant() ? 1 : 0);
            if (v->isConstant()) writeTensor(v->constant());
        }
        KILN_RETURN_IF_ERROR(writeRefs(g, g.inputs()));
        KILN_RETURN_IF_ERROR(writeRefs(g, g.outputs()));
        mOut.u32(static_cast<uint32_t>(g.nodes().size()));
        for (const auto& node : g.nodes()) {
            const ir::OpInfo& info = ir::opInfo(node->op());
            mOut.str(std::string(info.domain));
            mOut.str(std::string(info.name));
            mOut.str(node->name());
            mOut.i64(node->opset());
            mOut.i64(node->sourceIndex());
            KILN_RETURN_IF_ERROR(writeRefs(g, node->inputs()).withContext(node->describe()));
            KILN_RETURN_IF_ERROR(writeRefs(g, node->outputs()).withContext(node->describe()));
            KILN_RETURN_IF_ERROR(writeAttributes(node->attrs(), depth).withContext(node->describe()));
        }
        return Status::ok();
    }

    ByteWriter& out() { return mOut; }
    //! Tensors placed in the blob, with their offsets; `blobBytes` is the blob's size (64-byte aligned).
    const std::vector<std::pair<Tensor, uint64_t>>& blobItems() const { return mBlobItems; }
    uint64_t blobBytes() const { return mBlobBytes; }

private:
    Status writeRefs(const ir::Graph& g, const std::vector<ir::Value*>& values) {
        mOut.u32(static_cast<uint32_t>(values.size()));
        for (const ir::Value* v : values) {
            auto ref = valueRef(g, v, mIndex);
            if (!ref) return internalError("value '" + v->name() + "' belongs to no enclosing graph");
            mOut.u32(ref->first);
            mOut.u32(ref->second);
        }
        return Status::ok();
    }

    void writeTensor(const Tensor& t) {
        mOut.i32(static_cast<int32_t>(t.dtype()));
        if (!t.defined()) return;
        mOut.u32(static_cast<uint32_t>(t.rank()));
        for (int64_t d : t.shape()) mOut.i64(d);
        if (t.dtype() == DataType::kString) {
            mOut.u64(static_cast<uint64_t>(t.numel()));
            for (int64_t i = 0; i < t.numel(); ++i) mOut.str(t.strings()[i]);
            return;
        }
        const uint64_t bytes = t.byteSize();
        mOut.u64(mBlobBytes);
        mOut.u64(bytes);
        if (bytes > 0) {
            mBlobItems.emplace_back(t, mBlobBytes);
            mBlobBytes += alignUp(bytes, kWeightAlignment);
        }
    }

    Status writeAttributes(const ir::Attributes& attrs, size_t depth) {
        mOut.u32(static_cast<uint32_t>(attrs.all().size()));
        for (const auto& [name, value] : attrs.all()) {
            mOut.str(name);
            mOut.u8(static_cast<uint8_t>(value.index()));
            Status s = std::visit(
                [&](const auto& v) -> Status {
                    using V = std::decay_t<decltype(v)>;
                    if constexpr (std::is_same_v<V, int64_t>) {
                        mOut.i64(v);
                    } else if constexpr (std::is_same_v<V, float>) {
                        mOut.f32(v);
                    } else if constexpr (std::is_same_v<V, std::string>) {
                        mOut.str(v);
                    } else if constexpr (std::is_same_v<V, Tensor>) {
                        writeTensor(v);
                    } else if constexpr (std::is_same_v<V, std::shared_ptr<ir::Graph>>) {
                        return writeSubgraph(v, depth);
                    } else if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
                        mOut.u32(static_cast<uint32_t>(v.size()));
                        for (int64_t x : v) mOut.i64(x);
                    } else if constexpr (std::is_same_v<V, std::vector<float>>) {
                        mOut.u32(static_cast<uint32_t>(v.size()));
                        for (float x : v) mOut.f32(x);
                    } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
                        mOut.u32(static_cast<uint32_t>(v.size()));
                        for (const auto& x : v) mOut.str(x);
                    } else if constexpr (std::is_same_v<V, std::vector<Tensor>>) {
                        mOut.u32(static_cast<uint32_t>(v.size()));
                        for (const auto& x : v) writeTensor(x);
                    } else {
                        mOut.u32(static_cast<uint32_t>(v.size()));
                        for (const auto& x : v) KILN_RETURN_IF_ERROR(writeSubgraph(x, depth));
                    }
                    return Status::ok();
                },
                value);
            KILN_RETURN_IF_ERROR(s.withContext("attribute '" + name + "'"));
        }
        return Status::ok();
    }

    Status writeSubgraph(const std::shared_ptr<ir::Graph>& g, size_t depth) {
        mOut.u8(g ? 1 : 0);
        return g ? writeGraph(*g, depth + 1) : Status::ok();
    }

    ByteWriter mOut;
    std::unordered_map<const ir::Value*, uint32_t> mIndex;
    std::vector<std::pair<Tensor, uint64_t>> mBlobItems;
    uint64_t mBlobBytes = 0;
};

bool knownDtype(int32_t t) { return (t >= 1 && t <= 13) || t == 16; }

class GraphReader {
public:
    GraphReader(ByteReader& in, const std::byte* blob, size_t blobBytes, std::shared_ptr<void> owner)
        : mIn(in), mBlob(blob), mBlobBytes(blobBytes), mOwner(std::move(owner)) {}

    //! Fills `g` (created with its parent already set). Returns false with mIn failed on malformed data.
    bool readGraph(ir::Graph& g) {
        if (mStack.size() > kMaxSubgraphDepth) return fail("subgraphs nest deeper than 24 levels");
        mStack.push_back(&g);
        const bool ok = readGraphBody(g);
        mStack.pop_back();
        return ok;
    }

private:
    bool fail(const std::string& why) {
        mIn.fail(why);
        return false;
    }

    bool readGraphBody(ir::Graph& g) {
        const uint64_t nOpsets = mIn.count(mIn.u32(), 16);
        for (uint64_t i = 0; i < nOpsets && mIn.ok(); ++i) {
            std::string domain = mIn.str();
            g.setOpset(domain, mIn.i64());
        }
        const uint64_t nValues = mIn.count(mIn.u32(), 14);
        for (uint64_t i = 0; i < nValues && mIn.ok(); ++i) {
            std::string name = mIn.str();
            auto created = g.createValue(name);
            if (!created) return fail("duplicate value name '" + name + "'");
            ir::Value* v = *created;
            const int32_t dtype = mIn.i32();
            if (dtype != 0 && !knownDtype(dtype)) return fail("unknown dtype " + std::to_string(dtype));
            v->setDtype(static_cast<DataType>(dtype));
            if (mIn.u8()) {
                const uint64_t rank = mIn.count(mIn.u32(), 16);
                if (rank > kMaxRank) return fail("rank " + std::to_string(rank) + " is too large");
                std::vector<ir::Dim> dims;
                for (uint64_t d = 0; d < rank && mIn.ok(); ++d) {
                    ir::Dim dim;
                    dim.size = mIn.i64();
                    dim.symbol = mIn.str();
                    dims.push_back(std::move(dim));
                }
                v->setShape(std::move(dims));
            }
            if (mIn.u8()) {
                std::optional<Tensor> t = readTensor();
                if (!t) return false;
                if (!t->defined()) return fail("constant '" + name + "' has no dtype");
                const ir::SymbolicShape shape = v->shape();
                v->setConstant(std::move(*t));
                v->setShape(shape);
                v->setDtype(static_cast<DataType>(dtype));
            }
        }
        if (!mIn.ok()) return false;
        std::vector<ir::Value*> refs;
        if (!readRefs(refs, true)) return false;
        for (ir::Value* v : refs) {
            if (v == nullptr) return fail("graph input is empty");
            g.addInput(v);
        }
        if (!readRefs(refs, false)) return false;
        for (ir::Value* v : refs) {
            if (v == nullptr) return fail("graph output is empty");
            g.addOutput(v);
        }
        const uint64_t nNodes = mIn.count(mIn.u32(), 40);
        for (uint64_t i = 0; i < nNodes && mIn.ok(); ++i) {
            const std::string domain = mIn.str();
            const std::string opType = mIn.str();
            const auto kind = ir::findOp(domain, opType);
            if (!mIn.ok()) return false;
            if (!kind) return fail("unknown op '" + opType + "' of domain '" + domain + "'");
            std::string name = mIn.str();
            const int64_t opset = mIn.i64();
            ir::Node* node = g.addNode(*kind, std::move(name), opset);
            node->setSourceIndex(mIn.i64());
            if (!readRefs(refs, false)) return false;
            for (ir::Value* v : refs) node->addInput(v);
            if (!readRefs(refs, true)) return false;
            for (ir::Value* v : refs) {
                if (v != nullptr && v->producer() != nullptr)
                    return fail("value '" + v->name() + "' has two producers");
                node->addOutput(v);
            }
            if (!readAttributes(node->attrs())) return false;
        }
        if (!mIn.ok()) return false;
        Status verified = g.verify();
        if (!verified) return fail(verified.message());
        return true;
    }

    //! Reads value references; `local` requires values of the current graph (node outputs, graph inputs).
    bool readRefs(std::vector<ir::Value*>& out, bool local) {
        out.clear();
        const uint64_t n = mIn.count(mIn.u32(), 8);
        for (uint64_t i = 0; i < n && mIn.ok(); ++i) {
            const uint32_t depth = mIn.u32();
            const uint32_t index = mIn.u32();
            if (!mIn.ok()) return false;
            if (depth == 0) {
                out.push_back(nullptr);
                continue;
            }
            if (depth > mStack.size() || (local && depth != 1)) return fail("bad value reference");
            const ir::Graph* g = mStack[mStack.size() - depth];
            if (index >= g->values().size()) return fail("value reference " + std::to_string(index) + " out of range");
            out.push_back(g->values()[index].get());
        }
        return mIn.ok();
    }

    std::optional<Tensor> readTensor() {
        const int32_t dtype = mIn.i32();
        if (!mIn.ok()) return std::nullopt;
        if (dtype == 0) return Tensor();
        if (!knownDtype(dtype)) {
            fail("unknown tensor dtype " + std::to_string(dtype));
            return std::nullopt;
        }
        const auto type = static_cast<DataType>(dtype);
        const uint64_t rank = mIn.count(mIn.u32(), 8);
        if (rank > kMaxRank) {
            fail("tensor rank " + std::to_string(rank) + " is too large");
            return std::nullopt;
        }
        Shape shape;
        uint64_t numel = 1;
        bool overflow = false;
        for (uint64_t d = 0; d < rank && mIn.ok(); ++d) {
            const int64_t dim = mIn.i64();
            if (dim < 0) {
                fail("negative tensor dim");
                return std::nullopt;
            }
            if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(dim)) {
                overflow = true;
            }
            numel *= static_cast<uint64_t>(dim);
            shape.push_back(dim);
        }
        if (!mIn.ok()) return std::nullopt;
        if (overflow) {  // even with a zero dim later: shapeNumel would overflow on the way
            fail("tensor shape " + shapeToString(shape) + " is too large");
            return std::nullopt;
        }
        if (type == DataType::kString) {
            const uint64_t n = mIn.count(mIn.u64(), 8);
            if (!mIn.ok()) return std::nullopt;
            if (n != numel) {
                fail("string tensor holds " + std::to_string(n) + " strings for shape " + shapeToString(shape));
                return std::nullopt;
            }
            Tensor t(type, shape);
            for (uint64_t i = 0; i < n && mIn.ok(); ++i) t.strings()[i] = mIn.str();
            if (!mIn.ok()) return std::nullopt;
            return t;
        }
        const uint64_t offset = mIn.u64();
        const uint64_t bytes = mIn.u64();
        if (!mIn.ok()) return std::nullopt;
        if (bytes != numel * dataTypeSize(type)) {
            fail("tensor " + shapeToString(shape) + " records " + std::to_string(bytes) + " bytes");
            return std::nullopt;
        }
        if (bytes == 0) return Tensor(type, shape);
        if (offset % kWeightAlignment != 0 || offset > mBlobBytes || bytes > mBlobBytes - offset) {
            fail("weight at offset " + std::to_string(offset) + " (" + std::to_string(bytes) +
                 " bytes) lies outside the weight blob");
            return std::nullopt;
        }
        // The mapping is private (copy-on-write), so even a kernel that wrongly wrote a constant would not touch
        // the file; Kiln's kernels never write inputs.
        return Tensor::view(type, std::move(shape), const_cast<std::byte*>(mBlob + offset), mOwner);
    }

    std::shared_ptr<ir::Graph> readSubgraph() {
        if (mIn.u8() == 0) return nullptr;
        const std::string name = mIn.str();
        auto g = std::make_shared<ir::Graph>(name, mStack.back());
        if (!readGraph(*g)) return nullptr;
        return g;
    }

    bool readAttributes(ir::Attributes& attrs) {
        const uint64_t n = mIn.count(mIn.u32(), 9);
        for (uint64_t i = 0; i < n && mIn.ok(); ++i) {
            std::string name = mIn.str();
            const uint8_t kind = mIn.u8();
            if (!mIn.ok()) return false;
            switch (kind) {
                case 0: attrs.set(name, mIn.i64()); break;
                case 1: attrs.set(name, mIn.f32()); break;
                case 2: attrs.set(name, mIn.str()); break;
                case 3: {
                    auto t = readTensor();
                    if (!t) return false;
                    attrs.set(name, std::move(*t));
                    break;
                }
                case 4: {
                    auto g = readSubgraph();
                    if (!mIn.ok()) return false;
                    attrs.set(name, std::move(g));
                    break;
                }
                case 5: {
                    std::vector<int64_t> v(mIn.count(mIn.u32(), 8));
                    for (auto& x : v) x = mIn.i64();
                    attrs.set(name, std::move(v));
                    break;
                }
                case 6: {
                    std::vector<float> v(mIn.count(mIn.u32(), 4));
                    for (auto& x : v) x = mIn.f32();
                    attrs.set(name, std::move(v));
                    break;
                }
                case 7: {
                    std::vector<std::string> v(mIn.count(mIn.u32(), 8));
                    for (auto& x : v) x = mIn.str();
                    attrs.set(name, std::move(v));
                    break;
                }
                case 8: {
                    std::vector<Tensor> v(mIn.count(mIn.u32(), 4));
                    for (auto& x : v) {
                        auto t = readTensor();
                        if (!t) return false;
                        x = std::move(*t);
                    }
                    attrs.set(name, std::move(v));
                    break;
                }
                case 9: {
                    std::vector<std::shared_ptr<ir::Graph>> v(mIn.count(mIn.u32(), 1));
                    for (auto& x : v) {
                        x = readSubgraph();
                        if (!mIn.ok()) return false;
                    }
                    attrs.set(name, std::move(v));
                    break;
                }
                default: return fail("unknown attribute kind " + std::to_string(kind));
            }
        }
        return mIn.ok();
    }

    ByteReader& mIn;
    const std::byte* mBlob;
    size_t mBlobBytes;
    std::shared_ptr<void> mOwner;
    std::vector<ir::Graph*> mStack;
};

}  // namespace

//! Every value of `g` and its subgraphs, by pointer → index in its own graph's value list.
void indexValues(const ir::Graph& g, std::unordered_map<const ir::Value*, uint32_t>& index) {
    for (size_t i = 0; i < g.values().size(); ++i) index[g.values()[i].get()] = static_cast<uint32_t>(i);
    for (const auto& node : g.nodes()) {
        for (const auto& [name, attr] : node->attrs().all()) {
            if (const auto* sub = std::get_if<std::shared_ptr<ir::Graph>>(&attr)) {
                if (*sub) indexValues(**sub, index);
            } else if (const auto* subs = std::get_if<std::vector<std::shared_ptr<ir::Graph>>>(&attr)) {
                for (const auto& sg : *subs) {
                    if (sg) indexValues(*sg, index);
                }
            }
        }
    }
}

//! A value reference from graph `from`: (0 = none, else 1 + number of scopes up, index), or nullopt when the value
//! lives in no enclosing graph.
std::optional<std::pair<uint32_t, uint32_t>> valueRef(const ir::Graph& from, const ir::Value* v,
                                                      const std::unordered_map<const ir::Value*, uint32_t>& index) {
    if (v == nullptr) return std::pair<uint32_t, uint32_t>{0, 0};
    uint32_t depth = 1;
    for (const ir::Graph* g = &from; g != nullptr; g = g->parent(), ++depth) {
        if (v->graph() == g) {
            auto it = index.find(v);
            if (it == index.end()) return std::nullopt;
            return std::pair<uint32_t, uint32_t>{depth, it->second};
        }
    }
    return std::nullopt;
}

Result<EncodedGraph> encodeGraph(const ir::Graph& graph) {
    GraphWriter gw;
    KILN_RETURN_IF_ERROR(gw.writeGraph(graph, 0));
    EncodedGraph e;
    e.bytes = std::move(gw.out().buffer());
    e.blobItems = gw.blobItems();
    e.blobBytes = gw.blobBytes();
    return e;
}

Result<std::unique_ptr<ir::Graph>> decodeGraph(const std::byte* data, size_t size, const std::byte* blob,
                                               size_t blobBytes, std::shared_ptr<void> owner) {
    ByteReader in(data, size);
    GraphReader reader(in, blob, blobBytes, std::move(owner));
    const std::string name = in.str();
    auto graph = std::make_unique<ir::Graph>(name);
    if (!reader.readGraph(*graph) || !in.ok() || in.remaining() != 0) {
        return invalidModel(in.ok() ? "trailing bytes after the graph" : in.error());
    }
    return graph;
}

}  // namespace kiln::plan
