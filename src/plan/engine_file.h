// The engine file: one ir::Graph plus the metadata that says what built it, in one file that loads by mmap.
//
//   plan::EngineMetadata meta = plan::EngineMetadata::current("cpu");
//   meta.modelPath = "resnet50.onnx";
//   meta.modelSha256 = *plan::sha256File("resnet50.onnx");
//   KILN_RETURN_IF_ERROR(plan::saveEngineFile("resnet50.engine", graph, meta));   // atomic: temp + fsync + rename
//
//   plan::EngineExpectation expect;            // this Kiln version, backend "cpu", no device
//   plan::EngineLoadFailure why;
//   auto engine = plan::loadEngineFile("resnet50.engine", expect, &why);
//   if (!engine && why.needsRebuild()) { /* stale engine: rebuild from why.found / engine metadata */ }
//   cpu::Executor().run(*engine->graph, inputs);  // constants point into the mapping, not copied
//
// Layout (all integers little-endian; "format version" 2):
//   [0, 128)    fixed prefix: magic "KILNENG\0", u32 format version, u32 header bytes, u64 file bytes,
//               u64 body offset, u64 blob offset, u64 graph bytes, SHA-256 of the header record,
//               u32 CRC-32C of the body (everything from the body offset to the end; plan/digest.h says why not
//               SHA-256), 28 + 16 reserved zero bytes.
//   [128, ...)  header record: Kiln version, backend, device name, compute capability, build options, model
//               SHA-256, path and file stamp.
// Format 1 had a SHA-256 of the body and no model stamp; it is refused with a rebuild hint.
//   body        (64-byte aligned) the graph section, then (64-byte aligned) the weight blob: every non-string
//               tensor's bytes at a 64-byte aligned offset, referenced from the graph section by offset + size.
//
// The graph section (src/plan/graph_codec.h) is Kiln's own small binary encoding rather than protobuf: it stores Kiln's
// IR as it is after import and passes (op kinds, Kiln-created nodes, symbolic dims, outer-scope captures by reference),
// which an onnx::GraphProto would only approximate, needs no generated code, and its reader checks every count and
// offset against the bytes present, so a damaged file ends in a Status, never in a huge allocation or a crash.
//
// Thread safety: the functions are reentrant; a loaded EngineFile is immutable and may be read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "ir/graph.h"
#include "kiln/status.h"
#include "plan/atomic_file.h"
#include "plan/digest.h"

namespace kiln::plan {

inline constexpr char kEngineMagic[8] = {'K', 'I', 'L', 'N', 'E', 'N', 'G', '\0'};
//! Bumped whenever the layout changes; a file of another format version is refused with a rebuild hint.
inline constexpr uint32_t kEngineFormatVersion = 2;
//! Alignment of each weight in the file (and so in the mapping: the blob starts on a 64-byte boundary).
inline constexpr size_t kWeightAlignment = 64;
//! The rebuild hint used when the caller gives none; "<model>" and "<engine>" are replaced by the recorded model
//! path and the engine path.
inline constexpr const char* kDefaultRebuildCommand = "kiln build <model> -o <engine>";

//! What built an engine; written into the header.
struct EngineMetadata {
    std::string kilnVersion;   //!< KILN_VERSION of the Kiln that wrote the file.
    std::string backend;       //!< "cpu", "cuda", ...
    std::string deviceName;    //!< e.g. "NVIDIA H100 80GB HBM3"; empty for CPU.
    int32_t computeMajor = 0;  //!< Compute capability (0.0 for CPU).
    int32_t computeMinor = 0;
    std::map<std::string, std::string> buildOptions;  //!< Builder options as text ("fp16" → "1", ...).
    std::string modelSha256;                          //!< Lowercase hex SHA-256 of the source model file.
    std::string modelPath;                            //!< Path of the source model as given to the builder.
    //! plan::fileStamp of the model when modelSha256 was taken (empty: none that can be trusted). A model that
    //! still has this stamp needs no hashing to be known unchanged.
    std::string modelStamp;

    //! This Kiln's version and the given backend/device; the rest empty.
    static EngineMetadata current(std::string backend, std::string deviceName = {}, int32_t computeMajor = 0,
                                  int32_t computeMinor = 0);
    bool operator==(const EngineMetadata&) const = default;
};

//! What the caller needs the engine to be. An empty kilnVersion/backend skips that check; the device (name and
//! compute capability) is compared whenever `backend` is given.
struct EngineExpectation {
    std::string kilnVersion = KILN_VERSION;
    std::string backend = "cpu";
    std::string deviceName;
    int32_t computeMajor = 0;
    int32_t computeMinor = 0;
    //! Appended to mismatch messages as "rebuild with: <command>", after replacing "<model>" / "<engine>".
    std::string rebuildCommand = kDefaultRebuildCommand;
    //! Off only for tools that inspect damaged files (and the fuzzer, to reach the graph reader).
    bool verifyBodyChecksum = true;
};

//! Why a load failed, as a type the builder can act on (a stale engine is rebuilt, a damaged one reported).
enum class EngineFault {
    kNone = 0,
    kIo,             //!< Missing or unreadable file.
    kEmpty,          //!< Zero-length file.
    kNotAnEngine,    //!< No "KILNENG" magic.
    kTruncated,      //!< Shorter than its header says.
    kCorrupt,        //!< Checksum mismatch or malformed content.
    kFormatVersion,  //!< Written in another engine format version.
    kKilnVersion,    //!< Built by another Kiln version.
    kBackend,        //!< Built for another backend.
    kDevice,         //!< Built for another device (name or compute capability).
};

const char* engineFaultName(EngineFault fault) noexcept;

//! Details of a failed load: the fault, and for mismatches both sides ("0.1.0" vs "0.2.0").
struct EngineLoadFailure {
    EngineFault fault = EngineFault::kNone;
    std::string expected;   //!< What the caller asked for (mismatches only).
    std::string found;      //!< What the file holds (mismatches only).
    std::string modelPath;  //!< The recorded source model, when the header could be read.
    //! True for a well-formed engine built by/for something else: rebuilding from the source model fixes it.
    bool needsRebuild() const noexcept {
        return fault == EngineFault::kFormatVersion || fault == EngineFault::kKilnVersion ||
               fault == EngineFault::kBackend || fault == EngineFault::kDevice;
    }
};

//! A loaded engine. `graph`'s constants are views into the file's memory (mapping or caller buffer), each holding
//! `storage` alive, so the EngineFile may be destroyed while the graph or its tensors live on.
struct EngineFile {
    uint32_t formatVersion = 0;
    EngineMetadata metadata;
    uint32_t bodyChecksum = 0;  //!< CRC-32C of the body, as recorded (and verified unless turned off).
    std::unique_ptr<ir::Graph> graph;
    size_t fileBytes = 0;
    size_t weightBytes = 0;  //!< Size of the weight blob.
    //! The bytes the engine was read from (the read-only-to-Kiln private mapping for loadEngineFile).
    const std::byte* data = nullptr;
    std::shared_ptr<void> storage;
    bool contains(const void* p) const noexcept {
        const auto* b = static_cast<const std::byte*>(p);
        return data != nullptr && b >= data && b < data + fileBytes;
    }
};

//! The whole engine file in memory (for the builder's "serialized network" blob).
Result<std::string> serializeEngine(const ir::Graph& graph, const EngineMetadata& metadata);
//! Writes the engine to `path` atomically (atomic_file.h): a temp file in the same folder (see kTempInfix), fsync,
//! rename, fsync of the folder. A crash leaves the old file or none, never a partial one. A writer killed mid-write
//! leaves its temp file (hidden, never at `path`, and failing to load as truncated); the next saveEngineFile to the
//! same path removes such leftovers (those whose writer is gone: a live writer holds an flock on its temp file).
//! Concurrent writers of one path are safe: each renames a complete file, the last rename wins.
Status saveEngineFile(const std::string& path, const ir::Graph& graph, const EngineMetadata& metadata);

//! Memory-maps `path` (copy-on-write private mapping) and loads it; constants are not copied. Every failure is a
//! one-line Status naming the file; `failure` (optional) receives the typed reason.
Result<EngineFile> loadEngineFile(const std::string& path, const EngineExpectation& expect = {},
                                  EngineLoadFailure* failure = nullptr);
//! Loads from memory. `owner` keeps [data, data+size) alive for the constants' lifetime; with a null owner, or
//! memory not 64-byte aligned, the bytes are copied once first. `name` is used in messages.
Result<EngineFile> loadEngineFromMemory(const void* data, size_t size, std::shared_ptr<void> owner,
                                        const EngineExpectation& expect = {}, EngineLoadFailure* failure = nullptr,
                                        const std::string& name = "<memory>");

}  // namespace kiln::plan
