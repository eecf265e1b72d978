#include "plan/engine_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln::plan {

namespace {

constexpr size_t kPrefixBytes = 128;
constexpr size_t kShaBytes = 32;
// Offsets of the fixed-prefix fields.
constexpr size_t kOffFormat = 8;
constexpr size_t kOffHeaderBytes = 12;
constexpr size_t kOffFileBytes = 16;
constexpr size_t kOffBodyOffset = 24;
constexpr size_t kOffBlobOffset = 32;
constexpr size_t kOffGraphBytes = 40;
constexpr size_t kOffHeaderSha = 48;
constexpr size_t kOffBodySha = 80;
// Bounds a hostile file cannot push past.
constexpr uint32_t kMaxHeaderBytes = 16u << 20;
constexpr uint32_t kMaxRank = 64;
constexpr size_t kMaxSubgraphDepth = 24;

size_t alignUp(size_t n, size_t a) { return (n + a - 1) / a * a; }

std::string toHex(const unsigned char* p, size_t n) {
    static const char* kDigits = "0123456789abcdef";
    std::string s(2 * n, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = kDigits[p[i] >> 4];
        s[2 * i + 1] = kDigits[p[i] & 15];
    }
    return s;
}

//! Incremental SHA-256 over OpenSSL's EVP interface.
class Sha256 {
public:
    Sha256() : mCtx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(mCtx, EVP_sha256(), nullptr); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    ~Sha256() { EVP_MD_CTX_free(mCtx); }
    void update(const void* p, size_t n) {
        if (n) EVP_DigestUpdate(mCtx, p, n);
    }
    std::array<unsigned char, kShaBytes> finish() {
        std::array<unsigned char, kShaBytes> out{};
        unsigned int len = 0;
        EVP_DigestFinal_ex(mCtx, out.data(), &len);
        return out;
    }

private:
    EVP_MD_CTX* mCtx;
};

// ---- writing ----------------------------------------------------------------------------------------------------

class ByteWriter {
public:
    void raw(const void* p, size_t n) { mBuf.append(static_cast<const char*>(p), n); }
    template <typename T>
    void pod(T v) {
        raw(&v, sizeof v);  // Kiln targets little-endian hosts (x86-64, aarch64)
    }
    void u8(uint8_t v) { pod(v); }
    void u32(uint32_t v) { pod(v); }
    void i32(int32_t v) { pod(v); }
    void u64(uint64_t v) { pod(v); }
    void i64(int64_t v) { pod(v); }
    void f32(float v) { pod(v); }
    void str(const std::string& s) {
        u64(s.size());
        raw(s.data(), s.size());
    }
    std::string& buffer() { return mBuf; }

private:
    std::string mBuf;
};

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

void putU32(std::string& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void putU64(std::string& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

using Sink = std::function<Status(const void*, size_t)>;

//! Encodes the engine and streams it to `sink`; weights are read twice (hash, write), never copied.
Status writeEngine(const ir::Graph& graph, const EngineMetadata& meta, const Sink& sink) {
    GraphWriter gw;
    KILN_RETURN_IF_ERROR(gw.writeGraph(graph, 0));
    const std::string& graphBytes = gw.out().buffer();

    ByteWriter header;
    header.str(meta.kilnVersion);
    header.str(meta.backend);
    header.str(meta.deviceName);
    header.i32(meta.computeMajor);
    header.i32(meta.computeMinor);
    header.u32(static_cast<uint32_t>(meta.buildOptions.size()));
    for (const auto& [k, v] : meta.buildOptions) {
        header.str(k);
        header.str(v);
    }
    header.str(meta.modelSha256);
    header.str(meta.modelPath);
    const std::string& headerBytes = header.buffer();
    if (headerBytes.size() > kMaxHeaderBytes) return invalidArgument("engine header is larger than 16 MiB");

    const size_t bodyOffset = alignUp(kPrefixBytes + headerBytes.size(), kWeightAlignment);
    const size_t blobOffset = alignUp(bodyOffset + graphBytes.size(), kWeightAlignment);
    const size_t fileBytes = blobOffset + gw.blobBytes();
    static const char kZeros[kWeightAlignment] = {};
    const size_t graphPad = blobOffset - bodyOffset - graphBytes.size();

    Sha256 bodyHash;
    bodyHash.update(graphBytes.data(), graphBytes.size());
    bodyHash.update(kZeros, graphPad);
    for (const auto& [t, offset] : gw.blobItems()) {
        bodyHash.update(t.raw(), t.byteSize());
        bodyHash.update(kZeros, alignUp(t.byteSize(), kWeightAlignment) - t.byteSize());
    }
    Sha256 headerHash;
    headerHash.update(headerBytes.data(), headerBytes.size());

    std::string prefix(kPrefixBytes, '\0');
    std::memcpy(prefix.data(), kEngineMagic, sizeof kEngineMagic);
    putU32(prefix, kOffFormat, kEngineFormatVersion);
    putU32(prefix, kOffHeaderBytes, static_cast<uint32_t>(headerBytes.size()));
    putU64(prefix, kOffFileBytes, fileBytes);
    putU64(prefix, kOffBodyOffset, bodyOffset);
    putU64(prefix, kOffBlobOffset, blobOffset);
    putU64(prefix, kOffGraphBytes, graphBytes.size());
    const auto hs = headerHash.finish();
    const auto bs = bodyHash.finish();
    std::memcpy(prefix.data() + kOffHeaderSha, hs.data(), kShaBytes);
    std::memcpy(prefix.data() + kOffBodySha, bs.data(), kShaBytes);

    KILN_RETURN_IF_ERROR(sink(prefix.data(), prefix.size()));
    KILN_RETURN_IF_ERROR(sink(headerBytes.data(), headerBytes.size()));
    KILN_RETURN_IF_ERROR(sink(kZeros, bodyOffset - kPrefixBytes - headerBytes.size()));
    KILN_RETURN_IF_ERROR(sink(graphBytes.data(), graphBytes.size()));
    KILN_RETURN_IF_ERROR(sink(kZeros, graphPad));
    for (const auto& [t, offset] : gw.blobItems()) {
        KILN_RETURN_IF_ERROR(sink(t.raw(), t.byteSize()));
        KILN_RETURN_IF_ERROR(sink(kZeros, alignUp(t.byteSize(), kWeightAlignment) - t.byteSize()));
    }
    return Status::ok();
}

// ---- reading ----------------------------------------------------------------------------------------------------

//! Bounds-checked little-endian reader. After the first overrun every read yields zero and `ok()` is false, so
//! loops driven by counts read from a damaged file end at once.
class ByteReader {
public:
    ByteReader(const std::byte* p, size_t n) : mP(p), mN(n) {}
    bool ok() const { return mError.empty(); }
    const std::string& error() const { return mError; }
    void fail(std::string why) {
        if (mError.empty()) mError = std::move(why) + " at byte " + std::to_string(mPos);
        mPos = mN;
    }
    size_t remaining() const { return mN - mPos; }

    template <typename T>
    T pod() {
        T v{};
        if (!ok() || remaining() < sizeof(T)) {
            fail("unexpected end of data");
            return T{};
        }
        std::memcpy(&v, mP + mPos, sizeof(T));
        mPos += sizeof(T);
        return v;
    }
    uint8_t u8() { return pod<uint8_t>(); }
    uint32_t u32() { return pod<uint32_t>(); }
    int32_t i32() { return pod<int32_t>(); }
    uint64_t u64() { return pod<uint64_t>(); }
    int64_t i64() { return pod<int64_t>(); }
    float f32() { return pod<float>(); }
    std::string str() {
        const uint64_t n = u64();
        if (!ok() || n > remaining()) {
            fail("string length " + std::to_string(n) + " runs past the end");
            return {};
        }
        std::string s(reinterpret_cast<const char*>(mP + mPos), static_cast<size_t>(n));
        mPos += static_cast<size_t>(n);
        return s;
    }
    //! A count of items each at least `minBytes` long, checked against the bytes left.
    uint64_t count(uint64_t n, size_t minBytes) {
        if (!ok()) return 0;
        if (n > remaining() / std::max<size_t>(minBytes, 1)) {
            fail("count " + std::to_string(n) + " runs past the end");
            return 0;
        }
        return n;
    }

private:
    const std::byte* mP;
    size_t mN;
    size_t mPos = 0;
    std::string mError;
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
        if (overflow && numel != 0) {
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

template <typename T>
T getPod(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
    for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
    return s;
}

class LoadContext {
public:
    LoadContext(const std::string& name, const EngineExpectation& expect, EngineLoadFailure* failure)
        : mName(name), mExpect(expect), mFailure(failure) {}

    Status fail(EngineFault fault, ErrorCode code, const std::string& what, std::string expected = {},
                std::string found = {}) const {
        if (mFailure) *mFailure = EngineLoadFailure{fault, std::move(expected), std::move(found), mModelPath};
        return Status(code, "engine file '" + mName + "' " + what);
    }
    Status mismatch(EngineFault fault, const std::string& what, std::string expected, std::string found) const {
        std::string command = mExpect.rebuildCommand.empty() ? kDefaultRebuildCommand : mExpect.rebuildCommand;
        if (!mModelPath.empty()) command = replaceAll(command, "<model>", mModelPath);
        command = replaceAll(command, "<engine>", mName);
        return fail(fault, ErrorCode::kInvalidArgument, what + ": rebuild with: " + command, std::move(expected),
                    std::move(found));
    }
    void setModelPath(std::string p) { mModelPath = std::move(p); }

private:
    std::string mName;
    const EngineExpectation& mExpect;
    EngineLoadFailure* mFailure;
    std::string mModelPath;
};

std::string deviceText(const std::string& name, int32_t major, int32_t minor) {
    return "'" + name + "' (compute capability " + std::to_string(major) + "." + std::to_string(minor) + ")";
}

Result<EngineFile> loadAligned(const std::byte* data, size_t size, std::shared_ptr<void> owner,
                               const EngineExpectation& expect, EngineLoadFailure* failure, const std::string& name) {
    if (failure) *failure = {};
    LoadContext ctx(name, expect, failure);
    using EF = EngineFault;
    if (size == 0) {
        return ctx.fail(EF::kEmpty, ErrorCode::kInvalidModel,
                        "is empty (0 bytes): it was never written completely; rebuild it");
    }
    const size_t magicBytes = std::min(size, sizeof kEngineMagic);
    if (std::memcmp(data, kEngineMagic, magicBytes) != 0) {
        return ctx.fail(EF::kNotAnEngine, ErrorCode::kInvalidModel,
                        "is not a Kiln engine (it does not start with the \"KILNENG\" magic)");
    }
    if (size < kOffFormat + 4) {
        return ctx.fail(EF::kTruncated, ErrorCode::kInvalidModel,
                        "is truncated: " + std::to_string(size) + " bytes, shorter than the engine header");
    }
    const uint32_t format = getPod<uint32_t>(data + kOffFormat);
    if (format != kEngineFormatVersion) {
        return ctx.mismatch(EF::kFormatVersion,
                            "has engine format version " + std::to_string(format) +
                                ", this Kiln (" KILN_VERSION ") reads format version " +
                                std::to_string(kEngineFormatVersion),
                            std::to_string(kEngineFormatVersion), std::to_string(format));
    }
    if (size < kPrefixBytes) {
        return ctx.fail(EF::kTruncated, ErrorCode::kInvalidModel,
                        "is truncated: " + std::to_string(size) + " bytes, shorter than the engine header");
    }
    const uint32_t headerBytes = getPod<uint32_t>(data + kOffHeaderBytes);
    const uint64_t fileBytes = getPod<uint64_t>(data + kOffFileBytes);
    const uint64_t bodyOffset = getPod<uint64_t>(data + kOffBodyOffset);
    const uint64_t blobOffset = getPod<uint64_t>(data + kOffBlobOffset);
    const uint64_t graphBytes = getPod<uint64_t>(data + kOffGraphBytes);
    const bool layoutOk = headerBytes <= kMaxHeaderBytes &&
                          bodyOffset == alignUp(kPrefixBytes + headerBytes, kWeightAlignment) &&
                          graphBytes <= fileBytes && bodyOffset <= fileBytes &&
                          blobOffset == alignUp(bodyOffset + graphBytes, kWeightAlignment) && blobOffset <= fileBytes &&
                          (fileBytes - blobOffset) % kWeightAlignment == 0;
    if (!layoutOk) {
        return ctx.fail(EF::kCorrupt, ErrorCode::kInvalidModel, "is damaged: inconsistent section offsets");
    }
    if (size < fileBytes) {
        return ctx.fail(
            EF::kTruncated, ErrorCode::kInvalidModel,
            "is truncated: it has " + std::to_string(size) + " bytes, its header says " + std::to_string(fileBytes));
    }
    if (size > fileBytes) {
        return ctx.fail(EF::kCorrupt, ErrorCode::kInvalidModel,
                        "is damaged: " + std::to_string(size - fileBytes) + " bytes follow the end its header records");
    }
    if (sha256Hex(data + kPrefixBytes, headerBytes) !=
        toHex(reinterpret_cast<const unsigned char*>(data + kOffHeaderSha), kShaBytes)) {
        return ctx.fail(EF::kCorrupt, ErrorCode::kInvalidModel, "is damaged: header checksum mismatch");
    }

    EngineFile engine;
    engine.formatVersion = format;
    ByteReader header(data + kPrefixBytes, headerBytes);
    EngineMetadata& meta = engine.metadata;
    meta.kilnVersion = header.str();
    meta.backend = header.str();
    meta.deviceName = header.str();
    meta.computeMajor = header.i32();
    meta.computeMinor = header.i32();
    const uint64_t nOptions = header.count(header.u32(), 16);
    for (uint64_t i = 0; i < nOptions && header.ok(); ++i) {
        std::string k = header.str();
        meta.buildOptions[k] = header.str();
    }
    meta.modelSha256 = header.str();
    meta.modelPath = header.str();
    if (!header.ok() || header.remaining() != 0) {
        return ctx.fail(EF::kCorrupt, ErrorCode::kInvalidModel,
                        "is damaged: malformed header (" + (header.ok() ? "trailing bytes" : header.error()) + ")");
    }
    ctx.setModelPath(meta.modelPath);

    if (!expect.kilnVersion.empty() && meta.kilnVersion != expect.kilnVersion) {
        return ctx.mismatch(EF::kKilnVersion,
                            "was built by Kiln " + meta.kilnVersion + ", this is Kiln " + expect.kilnVersion,
                            expect.kilnVersion, meta.kilnVersion);
    }
    if (!expect.backend.empty()) {
        if (meta.backend != expect.backend) {
            return ctx.mismatch(
                EF::kBackend, "was built for backend '" + meta.backend + "', expected backend '" + expect.backend + "'",
                expect.backend, meta.backend);
        }
        if (meta.deviceName != expect.deviceName || meta.computeMajor != expect.computeMajor ||
            meta.computeMinor != expect.computeMinor) {
            const std::string want = deviceText(expect.deviceName, expect.computeMajor, expect.computeMinor);
            const std::string got = deviceText(meta.deviceName, meta.computeMajor, meta.computeMinor);
            return ctx.mismatch(EF::kDevice, "was built for device " + got + ", this device is " + want, want, got);
        }
    }

    const std::string recordedBody = toHex(reinterpret_cast<const unsigned char*>(data + kOffBodySha), kShaBytes);
    if (expect.verifyBodyChecksum) {
        const std::string actual = sha256Hex(data + bodyOffset, fileBytes - bodyOffset);
        if (actual != recordedBody) {
            return ctx.fail(EF::kCorrupt, ErrorCode::kInvalidModel,
                            "is damaged: body checksum mismatch (recorded " + recordedBody.substr(0, 16) +
                                "..., computed " + actual.substr(0, 16) + "...)");
        }
    }
    engine.bodySha256 = recordedBody;

    ByteReader body(data + bodyOffset, graphBytes);
    GraphReader reader(body, data + blobOffset, fileBytes - blobOffset, owner);
    const std::string graphName = body.str();
    auto graph = std::make_unique<ir::Graph>(graphName);
    if (!reader.readGraph(*graph) || !body.ok() || body.remaining() != 0) {
        return ctx.fail(EF::kCorrupt, ErrorCode::kInvalidModel,
                        "is damaged: malformed graph (" + (body.ok() ? "trailing bytes" : body.error()) + ")");
    }
    engine.graph = std::move(graph);
    engine.fileBytes = fileBytes;
    engine.weightBytes = fileBytes - blobOffset;
    engine.data = data;
    engine.storage = std::move(owner);
    return engine;
}

// ---- comparison -------------------------------------------------------------------------------------------------

bool tensorsEqual(const Tensor& a, const Tensor& b) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
    if (!a.defined()) return true;
    if (a.dtype() == DataType::kString) {
        for (int64_t i = 0; i < a.numel(); ++i) {
            if (a.strings()[i] != b.strings()[i]) return false;
        }
        return true;
    }
    return a.byteSize() == 0 || std::memcmp(a.raw(), b.raw(), a.byteSize()) == 0;
}

class GraphDiff {
public:
    std::string diff(const ir::Graph& a, const ir::Graph& b) {
        if (mIndexA.empty()) {
            indexValues(a, mIndexA);
            indexValues(b, mIndexB);
        }
        const std::string where = "graph '" + a.name() + "': ";
        if (a.name() != b.name()) return where + "name differs ('" + b.name() + "')";
        if (a.opsets() != b.opsets()) return where + "opsets differ";
        if (a.values().size() != b.values().size()) return where + "value count differs";
        for (size_t i = 0; i < a.values().size(); ++i) {
            const ir::Value& x = *a.values()[i];
            const ir::Value& y = *b.values()[i];
            const std::string v = where + "value " + std::to_string(i) + " '" + x.name() + "': ";
            if (x.name() != y.name()) return v + "name differs ('" + y.name() + "')";
            if (x.dtype() != y.dtype()) return v + "dtype differs";
            if (ir::symbolicShapeToString(x.shape()) != ir::symbolicShapeToString(y.shape())) {
                return v + "shape differs (" + ir::symbolicShapeToString(x.shape()) + " vs " +
                       ir::symbolicShapeToString(y.shape()) + ")";
            }
            if (x.shape()) {
                for (size_t d = 0; d < x.shape()->size(); ++d) {
                    if ((*x.shape())[d].size != (*y.shape())[d].size ||
                        (*x.shape())[d].symbol != (*y.shape())[d].symbol) {
                        return v + "dim " + std::to_string(d) + " differs";
                    }
                }
            }
            if (x.isConstant() != y.isConstant()) return v + "constness differs";
            if (x.isConstant() && !tensorsEqual(x.constant(), y.constant())) return v + "constant data differs";
        }
        if (!sameRefs(a, a.inputs(), b, b.inputs())) return where + "inputs differ";
        if (!sameRefs(a, a.outputs(), b, b.outputs())) return where + "outputs differ";
        if (a.nodes().size() != b.nodes().size()) return where + "node count differs";
        for (size_t i = 0; i < a.nodes().size(); ++i) {
            const ir::Node& x = *a.nodes()[i];
            const ir::Node& y = *b.nodes()[i];
            const std::string n = where + x.describe() + ": ";
            if (x.op() != y.op() || x.name() != y.name()) return n + "op or name differs";
            if (x.opset() != y.opset() || x.sourceIndex() != y.sourceIndex()) return n + "opset or index differs";
            if (!sameRefs(a, x.inputs(), b, y.inputs())) return n + "inputs differ";
            if (!sameRefs(a, x.outputs(), b, y.outputs())) return n + "outputs differ";
            std::string d = diffAttributes(x.attrs(), y.attrs());
            if (!d.empty()) return n + d;
        }
        return {};
    }

private:
    bool sameRefs(const ir::Graph& ga, const std::vector<ir::Value*>& a, const ir::Graph& gb,
                  const std::vector<ir::Value*>& b) {
        if (a.size() != b.size()) return false;
        for (size_t i = 0; i < a.size(); ++i) {
            if (valueRef(ga, a[i], mIndexA) != valueRef(gb, b[i], mIndexB)) return false;
        }
        return true;
    }

    std::string diffAttributes(const ir::Attributes& a, const ir::Attributes& b) {
        if (a.all().size() != b.all().size()) return "attribute count differs";
        for (const auto& [name, x] : a.all()) {
            auto it = b.all().find(name);
            if (it == b.all().end()) return "attribute '" + name + "' missing";
            const ir::AttributeValue& y = it->second;
            if (x.index() != y.index()) return "attribute '" + name + "' kind differs";
            bool same = true;
            std::string sub;
            std::visit(
                [&](const auto& xv) {
                    using V = std::decay_t<decltype(xv)>;
                    const V& yv = std::get<V>(y);
                    if constexpr (std::is_same_v<V, float>) {
                        same = std::memcmp(&xv, &yv, sizeof xv) == 0;
                    } else if constexpr (std::is_same_v<V, std::vector<float>>) {
                        same = xv.size() == yv.size() &&
                               (xv.empty() || std::memcmp(xv.data(), yv.data(), xv.size() * sizeof(float)) == 0);
                    } else if constexpr (std::is_same_v<V, Tensor>) {
                        same = tensorsEqual(xv, yv);
                    } else if constexpr (std::is_same_v<V, std::vector<Tensor>>) {
                        same = xv.size() == yv.size();
                        for (size_t i = 0; same && i < xv.size(); ++i) same = tensorsEqual(xv[i], yv[i]);
                    } else if constexpr (std::is_same_v<V, std::shared_ptr<ir::Graph>>) {
                        same = (xv == nullptr) == (yv == nullptr);
                        if (same && xv) sub = diff(*xv, *yv);
                    } else if constexpr (std::is_same_v<V, std::vector<std::shared_ptr<ir::Graph>>>) {
                        same = xv.size() == yv.size();
                        for (size_t i = 0; same && sub.empty() && i < xv.size(); ++i) {
                            same = (xv[i] == nullptr) == (yv[i] == nullptr);
                            if (same && xv[i]) sub = diff(*xv[i], *yv[i]);
                        }
                    } else {
                        same = xv == yv;
                    }
                },
                x);
            if (!sub.empty()) return "attribute '" + name + "': " + sub;
            if (!same) return "attribute '" + name + "' differs";
        }
        return {};
    }

    std::unordered_map<const ir::Value*, uint32_t> mIndexA;
    std::unordered_map<const ir::Value*, uint32_t> mIndexB;
};

Status writeAll(int fd, const void* data, size_t size, const std::string& path) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return ioError("cannot write '" + path + "': " + std::strerror(errno));
        }
        p += n;
        size -= static_cast<size_t>(n);
    }
    return Status::ok();
}

}  // namespace

EngineMetadata EngineMetadata::current(std::string backend, std::string deviceName, int32_t computeMajor,
                                       int32_t computeMinor) {
    EngineMetadata m;
    m.kilnVersion = KILN_VERSION;
    m.backend = std::move(backend);
    m.deviceName = std::move(deviceName);
    m.computeMajor = computeMajor;
    m.computeMinor = computeMinor;
    return m;
}

const char* engineFaultName(EngineFault fault) noexcept {
    switch (fault) {
        case EngineFault::kNone: return "none";
        case EngineFault::kIo: return "io";
        case EngineFault::kEmpty: return "empty";
        case EngineFault::kNotAnEngine: return "not an engine";
        case EngineFault::kTruncated: return "truncated";
        case EngineFault::kCorrupt: return "corrupt";
        case EngineFault::kFormatVersion: return "format version";
        case EngineFault::kKilnVersion: return "kiln version";
        case EngineFault::kBackend: return "backend";
        case EngineFault::kDevice: return "device";
    }
    return "unknown";
}

std::string sha256Hex(const void* data, size_t size) {
    Sha256 h;
    h.update(data, size);
    const auto d = h.finish();
    return toHex(d.data(), d.size());
}

Result<std::string> sha256File(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return notFound("cannot open '" + path + "': " + std::strerror(errno));
    Sha256 h;
    std::vector<char> buf(1 << 20);
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return ioError("cannot read '" + path + "': " + std::strerror(err));
        }
        if (n == 0) break;
        h.update(buf.data(), static_cast<size_t>(n));
    }
    ::close(fd);
    const auto d = h.finish();
    return toHex(d.data(), d.size());
}

Result<std::string> serializeEngine(const ir::Graph& graph, const EngineMetadata& metadata) {
    std::string out;
    KILN_RETURN_IF_ERROR(writeEngine(graph, metadata, [&](const void* p, size_t n) {
        out.append(static_cast<const char*>(p), n);
        return Status::ok();
    }));
    return out;
}

Status saveEngineFile(const std::string& path, const ir::Graph& graph, const EngineMetadata& metadata) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string temp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) return ioError("cannot create a temp file next to '" + path + "': " + std::strerror(errno));
    Status s = writeEngine(graph, metadata, [&](const void* p, size_t n) { return writeAll(fd, p, n, temp); });
    if (s && ::fchmod(fd, 0644) != 0) s = ioError("cannot chmod '" + temp + "': " + std::strerror(errno));
    if (s && ::fsync(fd) != 0) s = ioError("cannot fsync '" + temp + "': " + std::strerror(errno));
    if (::close(fd) != 0 && s) s = ioError("cannot close '" + temp + "': " + std::strerror(errno));
    if (s && ::rename(temp.c_str(), path.c_str()) != 0) {
        s = ioError("cannot rename '" + temp + "' to '" + path + "': " + std::strerror(errno));
    }
    if (!s) {
        ::unlink(temp.c_str());
        return s;
    }
    // The rename is durable only once the folder's entry is on disk.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return Status::ok();
}

Result<EngineFile> loadEngineFile(const std::string& path, const EngineExpectation& expect,
                                  EngineLoadFailure* failure) {
    if (failure) *failure = {};
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (failure) failure->fault = EngineFault::kIo;
        const std::string msg = "engine file '" + path + "' cannot be opened: " + std::strerror(err);
        return err == ENOENT ? notFound(msg) : ioError(msg);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        if (failure) failure->fault = EngineFault::kIo;
        return ioError("engine file '" + path + "' is not a readable regular file");
    }
    const auto size = static_cast<size_t>(st.st_size);
    if (size == 0) {
        ::close(fd);
        return loadAligned(nullptr, 0, nullptr, expect, failure, path);
    }
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (addr == MAP_FAILED) {
        if (failure) failure->fault = EngineFault::kIo;
        return ioError("engine file '" + path + "' cannot be mapped: " + std::strerror(err));
    }
    std::shared_ptr<void> mapping(addr, [size](void* p) { ::munmap(p, size); });
    return loadAligned(static_cast<const std::byte*>(addr), size, std::move(mapping), expect, failure, path);
}

Result<EngineFile> loadEngineFromMemory(const void* data, size_t size, std::shared_ptr<void> owner,
                                        const EngineExpectation& expect, EngineLoadFailure* failure,
                                        const std::string& name) {
    if (size > 0 && (owner == nullptr || reinterpret_cast<uintptr_t>(data) % kWeightAlignment != 0)) {
        void* copy = std::aligned_alloc(kWeightAlignment, alignUp(size, kWeightAlignment));
        if (copy == nullptr) return outOfRange("out of memory copying engine '" + name + "'");
        std::memcpy(copy, data, size);
        owner = std::shared_ptr<void>(copy, [](void* p) { std::free(p); });
        data = copy;
    }
    return loadAligned(static_cast<const std::byte*>(data), size, std::move(owner), expect, failure, name);
}

std::string diffGraphs(const ir::Graph& a, const ir::Graph& b) { return GraphDiff().diff(a, b); }

}  // namespace kiln::plan
