// The persistent timing cache: which tactic (library algorithm) won for each layer signature on one GPU with one
// set of library versions, so that a rebuild skips the timing. Written by the CUDA builder (docs/cuda.md, "Tactic
// timing"); plain host code, so it lives with the engine file format and is tested without a GPU.
//
// File format (JSON, version kTimingCacheFormat):
//   {"format": "kiln-timing-cache", "version": 1,
//    "environment": {"gpu": "NVIDIA H100 80GB HBM3", "compute": "9.0", "cudnn": 91400, "cublaslt": 130100},
//    "entries": {"<layer signature>": {"tactic": "<backend text>", "ms": 0.0123, "candidates": 8}, ...}}
// Signatures and tactics are opaque text to this file (the CUDA backend writes and reads them: tactics.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "kiln/status.h"

namespace kiln::plan {

inline constexpr int kTimingCacheFormat = 1;

//! What a timing is valid for: the GPU and the library versions that chose and ran the tactic.
struct TimingEnvironment {
    std::string gpu;  //!< cudaDeviceProp::name
    int computeMajor = 0;
    int computeMinor = 0;
    int64_t cudnnVersion = 0;
    int64_t cublasLtVersion = 0;

    bool operator==(const TimingEnvironment&) const = default;
    //! "NVIDIA H100 80GB HBM3 (sm_90), cuDNN 91400, cuBLASLt 130100"
    std::string describe() const;
};

//! One layer's winner.
struct TacticRecord {
    std::string tactic;  //!< Backend text naming the algorithm (and what it needs to run it).
    double ms = 0;       //!< Its median time at the tuned shape.
    int candidates = 0;  //!< How many candidates were timed against it.
};

//! Signature → winner, for one environment. A value type; not synchronized (the tuner that fills it locks).
class TimingCache {
public:
    TimingCache() = default;
    explicit TimingCache(TimingEnvironment env) : mEnv(std::move(env)) {}

    const TimingEnvironment& environment() const { return mEnv; }
    const std::map<std::string, TacticRecord>& entries() const { return mEntries; }
    size_t size() const { return mEntries.size(); }
    std::optional<TacticRecord> find(const std::string& signature) const;
    void insert(const std::string& signature, TacticRecord record) { mEntries[signature] = std::move(record); }
    //! Adds `other`'s entries for signatures this cache lacks (nothing when the environments differ).
    void merge(const TimingCache& other);

    std::string serialize() const;
    //! Parses a cache file's text; kInvalidArgument naming `name` ("timing cache 'f.cache' is corrupt: ...") when it
    //! is not a timing cache of this format version.
    static Result<TimingCache> parse(const std::string& text, const std::string& name);

private:
    TimingEnvironment mEnv;
    std::map<std::string, TacticRecord> mEntries;
};

//! A cache file as found at the start of a build.
struct LoadedTimingCache {
    TimingCache cache;  //!< For `env`: the file's entries when it was written there, else empty.
    //! Empty when the file was used; otherwise one line saying why not (missing, another GPU / library versions,
    //! corrupt), for the build log.
    std::string note;
    bool corrupt = false;  //!< The note is about a corrupt or unreadable file (a warning rather than an info).
};

//! Reads `path` for `env`. Never fails: a missing file, one from another environment, and a corrupt one all give
//! an empty cache and a note (TensorRT warns about an invalid timing cache and builds with a fresh one; Kiln does
//! the same, and the corrupt file is replaced at the end of the build).
LoadedTimingCache loadTimingCache(const std::string& path, const TimingEnvironment& env);

//! Writes `cache` to `path` atomically (atomic_file.h), merged with the entries the file holds now for the same
//! environment (another build may have added some since this one loaded it). Errors name the file.
Status saveTimingCache(const std::string& path, const TimingCache& cache);

}  // namespace kiln::plan
