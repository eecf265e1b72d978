// The graph section of an engine file: Kiln's IR in a small little-endian binary encoding (see engine_file.h for
// why not protobuf). Internal to src/plan; the builder and runtime use engine_file.h.
//
// Encoding of a graph: name, opsets, values (name, dtype, shape, constant), input and output references, nodes
// (domain, op type, name, opset, source index, input/output references, attributes). A value reference is
// (0 = omitted, else 1 + how many scopes up, index in that graph's value list), so outer-scope captures of
// subgraphs survive. Non-string tensors are (blob offset, bytes) into the 64-byte aligned weight blob; string
// tensors are stored inline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::plan {

inline size_t alignUp(size_t n, size_t a) { return (n + a - 1) / a * a; }

//! Appends little-endian values to a byte string.
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

//! Every value of `g` and its subgraphs, by pointer → index in its own graph's value list.
void indexValues(const ir::Graph& g, std::unordered_map<const ir::Value*, uint32_t>& index);

//! A value reference from graph `from`: (0 = none, else 1 + number of scopes up, index), or nullopt when the value
//! lives in no enclosing graph.
std::optional<std::pair<uint32_t, uint32_t>> valueRef(const ir::Graph& from, const ir::Value* v,
                                                      const std::unordered_map<const ir::Value*, uint32_t>& index);

//! An encoded graph section plus the tensors to place in the weight blob, at the recorded offsets.
struct EncodedGraph {
    std::string bytes;
    std::vector<std::pair<Tensor, uint64_t>> blobItems;  //!< Tensor and its offset in the blob.
    uint64_t blobBytes = 0;                              //!< Blob size, a multiple of kWeightAlignment.
};

Result<EncodedGraph> encodeGraph(const ir::Graph& graph);

//! Decodes a graph section; constants become views into [blob, blob + blobBytes) that keep `owner` alive. Every
//! count, reference and offset is checked against the bytes present; failures say what and at which byte.
Result<std::unique_ptr<ir::Graph>> decodeGraph(const std::byte* data, size_t size, const std::byte* blob,
                                               size_t blobBytes, std::shared_ptr<void> owner);

}  // namespace kiln::plan
