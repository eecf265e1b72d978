// Tactic timing (issue 7): at build, a CUDA engine's graph runs once at the opt shapes of profile 0 with a
// TacticTuner in its RunState. Each cuDNN / cuBLASLt call of a layer then times its candidate algorithms (the
// libraries' heuristic lists, as many as the optimization level asks for) with CUDA events on the real operands,
// keeps the fastest that fits the workspace limit, and the tuner records the choice for the node. The builder writes
// each choice into the graph as the node attribute kTacticAttribute, so an engine file carries its tactics and
// loading times nothing; the winners also go to the timing cache (plan/timing_cache.h), so a rebuild times nothing.
//
// A choice is [signature, tactic]: the signature names the library call's problem (op, direction, dtype, layout,
// shapes, pads/strides, math mode, alignment, workspace budget), the tactic the algorithm in text the library code
// decodes (conv_cudnn.cpp, mat_mul_lt.cpp). At run time a kernel uses its node's tactic only when its problem has the
// recorded signature: other shapes of a dynamic profile, or other pointer alignments, take the heuristics as before.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "backends/cuda/kernel.h"
#include "plan/timing_cache.h"

namespace kiln::cuda {

//! The node attribute holding a layer's choice: strings [signature, tactic].
inline constexpr const char* kTacticAttribute = "kiln_tactic";

//! How much a level times: candidates per problem (the heuristics' first ones), warm-up and timed runs of each.
struct TuningEffort {
    size_t candidates = 1;
    int warmups = 0;
    int iterations = 0;
};
//! Level 0: none (the heuristics' first choice, as without a tuner); 1: 2 candidates; 2: 4; 3: 8; 4: 16; 5: every
//! candidate the libraries return (cuBLASLt asked for up to 64), with more repetitions at 4 and 5.
TuningEffort tuningEffort(int level);

//! What a tuning run did, for the build log.
struct TuningStats {
    size_t layers = 0;           //!< Nodes given a tactic.
    size_t problemsTimed = 0;    //!< Distinct problems whose candidates were timed (at least one ran).
    size_t cacheHits = 0;        //!< Problems answered by the timing cache (or an earlier equal layer).
    size_t candidatesTimed = 0;  //!< Candidate algorithms timed, over all problems.
    double timingSeconds = 0;    //!< Wall time spent timing candidates.
};

//! One problem's candidates, listed by the library code when the cache cannot answer.
struct TacticCandidates {
    size_t count = 0;
    std::function<size_t(size_t)> workspace;               //!< Bytes candidate i needs.
    std::function<Status(size_t i, void* workspace)> run;  //!< Enqueues candidate i; kUnsupported: refused.
    std::function<std::string(size_t)> encode;             //!< Candidate i's tactic text.
};

//! The state of one tuning run. Used by the kernels of that run (one thread); its methods lock anyway, so several
//! runs may share one tuner.
class TacticTuner {
public:
    TacticTuner(int level, plan::TimingCache& cache) : mLevel(level), mEffort(tuningEffort(level)), mCache(cache) {}
    TacticTuner(const TacticTuner&) = delete;
    TacticTuner& operator=(const TacticTuner&) = delete;

    int level() const { return mLevel; }
    const TuningEffort& effort() const { return mEffort; }

    //! The tactic for `signature`: the cache's, else the fastest of `list()`'s candidates timed on ctx's stream (and
    //! cached); recorded for ctx's node. Empty when every candidate was refused or skipped.
    Result<std::string> choose(CudaKernelContext& ctx, const std::string& signature,
                               const std::function<Result<TacticCandidates>()>& list);

    //! Node → [signature, tactic], the first choice made for each node.
    std::map<const ir::Node*, std::pair<std::string, std::string>> assignments() const;
    TuningStats stats() const;

private:
    Result<std::optional<plan::TacticRecord>> timeCandidates(CudaKernelContext& ctx, const TacticCandidates& c);

    const int mLevel;
    const TuningEffort mEffort;
    mutable std::mutex mMutex;
    plan::TimingCache& mCache;
    std::map<const ir::Node*, std::pair<std::string, std::string>> mAssigned;
    TuningStats mStats;
};

//! Whether chooseTactic can return anything for ctx's node: a tuning run, or a node with a recorded tactic. Library
//! code asks first, so that running an engine without tactics builds no signatures.
inline bool mayHaveTactic(const CudaKernelContext& ctx) {
    return ctx.run.tuner != nullptr || ctx.attrs().has(kTacticAttribute);
}

//! The tactic for `signature` in this run: through the run's tuner when it has one, else the one recorded on ctx's
//! node for this signature. Empty: no tactic, use the library's heuristic.
Result<std::string> chooseTactic(CudaKernelContext& ctx, const std::string& signature,
                                 const std::function<Result<TacticCandidates>()>& list);

//! Builds a signature: "cudnn.fwd|float16|nhwc|..." from parts joined by '|'.
class Signature {
public:
    explicit Signature(std::string kind) : mText(std::move(kind)) {}
    Signature& add(const std::string& name, const std::string& value) {
        mText.append("|").append(name).append("=").append(value);
        return *this;
    }
    Signature& add(const std::string& name, int64_t value) { return add(name, std::to_string(value)); }
    //! "name=1x64x56x56" for the first `n` values.
    template <typename Container>
    Signature& dims(const std::string& name, const Container& values, size_t n) {
        std::string s;
        for (size_t i = 0; i < n; ++i) s += (i ? "x" : "") + std::to_string(values[i]);
        return add(name, s);
    }
    const std::string& text() const { return mText; }

private:
    std::string mText;
};

//! "none" for an unlimited budget (SIZE_MAX), else the byte count: the workspace part of a signature.
std::string budgetText(size_t budget);

}  // namespace kiln::cuda
