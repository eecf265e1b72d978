#include "plan/engine_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <utility>
#include <vector>

#include "plan/digest.h"
#include "plan/graph_codec.h"

namespace kiln::plan {

namespace {

constexpr size_t kPrefixBytes = 128;
// Offsets of the fixed-prefix fields.
constexpr size_t kOffFormat = 8;
constexpr size_t kOffHeaderBytes = 12;
constexpr size_t kOffFileBytes = 16;
constexpr size_t kOffBodyOffset = 24;
constexpr size_t kOffBlobOffset = 32;
constexpr size_t kOffGraphBytes = 40;
constexpr size_t kOffHeaderSha = 48;
constexpr size_t kOffBodyChecksum = 80;
// Bounds a hostile file cannot push past.
constexpr uint32_t kMaxHeaderBytes = 16u << 20;

// ---- writing ----------------------------------------------------------------------------------------------------

void putU32(std::string& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void putU64(std::string& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

using Sink = std::function<Status(const void*, size_t)>;

//! Encodes the engine and streams it to `sink`; weights are read twice (hash, write), never copied.
Status writeEngine(const ir::Graph& graph, const EngineMetadata& meta, const Sink& sink) {
    KILN_ASSIGN_OR_RETURN(EncodedGraph encoded, encodeGraph(graph));
    const std::string& graphBytes = encoded.bytes;

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
    header.str(meta.modelStamp);
    const std::string& headerBytes = header.buffer();
    if (headerBytes.size() > kMaxHeaderBytes) return invalidArgument("engine header is larger than 16 MiB");

    const size_t bodyOffset = alignUp(kPrefixBytes + headerBytes.size(), kWeightAlignment);
    const size_t blobOffset = alignUp(bodyOffset + graphBytes.size(), kWeightAlignment);
    const size_t fileBytes = blobOffset + encoded.blobBytes;
    static const char kZeros[kWeightAlignment] = {};
    const size_t graphPad = blobOffset - bodyOffset - graphBytes.size();

    uint32_t bodyCrc = crc32c(0, graphBytes.data(), graphBytes.size());
    bodyCrc = crc32c(bodyCrc, kZeros, graphPad);
    for (const auto& [t, offset] : encoded.blobItems) {
        bodyCrc = crc32c(bodyCrc, t.raw(), t.byteSize());
        bodyCrc = crc32c(bodyCrc, kZeros, alignUp(t.byteSize(), kWeightAlignment) - t.byteSize());
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
    std::memcpy(prefix.data() + kOffHeaderSha, hs.data(), kShaBytes);
    putU32(prefix, kOffBodyChecksum, bodyCrc);

    KILN_RETURN_IF_ERROR(sink(prefix.data(), prefix.size()));
    KILN_RETURN_IF_ERROR(sink(headerBytes.data(), headerBytes.size()));
    KILN_RETURN_IF_ERROR(sink(kZeros, bodyOffset - kPrefixBytes - headerBytes.size()));
    KILN_RETURN_IF_ERROR(sink(graphBytes.data(), graphBytes.size()));
    KILN_RETURN_IF_ERROR(sink(kZeros, graphPad));
    for (const auto& [t, offset] : encoded.blobItems) {
        KILN_RETURN_IF_ERROR(sink(t.raw(), t.byteSize()));
        KILN_RETURN_IF_ERROR(sink(kZeros, alignUp(t.byteSize(), kWeightAlignment) - t.byteSize()));
    }
    return Status::ok();
}

// ---- reading ----------------------------------------------------------------------------------------------------

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

std::string crcText(uint32_t crc) {
    char text[9];
    std::snprintf(text, sizeof text, "%08x", crc);
    return text;
}

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
    meta.modelStamp = header.str();
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

    const uint32_t recordedBody = getPod<uint32_t>(data + kOffBodyChecksum);
    if (expect.verifyBodyChecksum) {
        const uint32_t actual = crc32c(0, data + bodyOffset, fileBytes - bodyOffset);
        if (actual != recordedBody) {
            return ctx.fail(EF::kCorrupt, ErrorCode::kInvalidModel,
                            "is damaged: body checksum mismatch (recorded CRC-32C " + crcText(recordedBody) +
                                ", computed " + crcText(actual) + ")");
        }
    }
    engine.bodyChecksum = recordedBody;

    auto graph = decodeGraph(data + bodyOffset, graphBytes, data + blobOffset, fileBytes - blobOffset, owner);
    if (!graph) {
        return ctx.fail(EF::kCorrupt, ErrorCode::kInvalidModel,
                        "is damaged: malformed graph (" + graph.status().message() + ")");
    }
    engine.graph = std::move(graph).value();
    engine.fileBytes = fileBytes;
    engine.weightBytes = fileBytes - blobOffset;
    engine.data = data;
    engine.storage = std::move(owner);
    return engine;
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

Result<std::string> serializeEngine(const ir::Graph& graph, const EngineMetadata& metadata) {
    std::string out;
    KILN_RETURN_IF_ERROR(writeEngine(graph, metadata, [&](const void* p, size_t n) {
        out.append(static_cast<const char*>(p), n);
        return Status::ok();
    }));
    return out;
}

Status saveEngineFile(const std::string& path, const ir::Graph& graph, const EngineMetadata& metadata) {
    return writeFileAtomically(path, [&](const WriteBytes& write) { return writeEngine(graph, metadata, write); });
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
#ifdef MADV_POPULATE_READ
    // Verifying the checksum reads every page: map them in one call rather than fault them in one by one (not
    // MAP_POPULATE, which would copy every page of this writable private mapping). Older kernels: no effect.
    if (expect.verifyBodyChecksum) ::madvise(addr, size, MADV_POPULATE_READ);
#endif
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

}  // namespace kiln::plan
