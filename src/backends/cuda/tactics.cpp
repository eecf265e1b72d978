#include "backends/cuda/tactics.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/tactic_spin.h"

namespace kiln::cuda {

namespace {

// A candidate whose first run is this many times slower than the best median so far is not timed further: it
// cannot win, and cuDNN's slowest algorithms (FFT on large tiles) would otherwise dominate the build time.
constexpr double kPruneFactor = 4.0;
// The heuristics' first choice stays unless another candidate beats it by this factor: timing noise on
// microsecond kernels must not swap a library's well-ranked algorithm for one that only measured equal.
constexpr double kWinMargin = 1.03;
// How long the device is held before the timed runs (launchTimingSpin): room for the host to queue every run.
constexpr uint64_t kSpinBaseNs = 500'000;
constexpr uint64_t kSpinPerRunNs = 200'000;

//! CUDA events, destroyed with the object.
class Events {
public:
    explicit Events(size_t n) : mEvents(n, nullptr) {}
    ~Events() {
        for (cudaEvent_t e : mEvents) {
            if (e) static_cast<void>(cudaEventDestroy(e));
        }
    }
    Events(const Events&) = delete;
    Events& operator=(const Events&) = delete;
    Status create() {
        for (cudaEvent_t& e : mEvents) KILN_CUDA_CHECK(cudaEventCreate(&e));
        return Status::ok();
    }
    cudaEvent_t operator[](size_t i) const { return mEvents[i]; }

private:
    std::vector<cudaEvent_t> mEvents;
};

//! Device workspace from the run's arena, returned to it on destruction (stream-ordered, as every arena free).
class Scratch {
public:
    explicit Scratch(DeviceArena* arena) : mArena(arena) {}
    ~Scratch() {
        if (mData) mArena->free(mData);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    Status allocate(size_t bytes) {
        if (bytes == 0) return Status::ok();
        KILN_ASSIGN_OR_RETURN(mData, mArena->allocate(bytes));
        return Status::ok();
    }
    void* data() const { return mData; }

private:
    DeviceArena* mArena;
    void* mData = nullptr;
};

Result<float> elapsedMs(cudaEvent_t from, cudaEvent_t to) {
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, from, to));
    return ms;
}

}  // namespace

TuningEffort tuningEffort(int level) {
    switch (level) {
        case 0: return {1, 0, 0};
        case 1: return {2, 1, 3};
        case 2: return {4, 1, 5};
        case 3: return {8, 2, 5};
        case 4: return {16, 2, 10};
        default: return {SIZE_MAX, 3, 20};
    }
}

std::string budgetText(size_t budget) { return budget == SIZE_MAX ? std::string("none") : std::to_string(budget); }

Result<std::optional<plan::TacticRecord>> TacticTuner::timeCandidates(CudaKernelContext& ctx,
                                                                      const TacticCandidates& c) {
    const size_t count = std::min(c.count, mEffort.candidates);
    const int iterations = std::max(mEffort.iterations, 1);
    Events events(static_cast<size_t>(iterations) + 2);
    KILN_RETURN_IF_ERROR(events.create());
    std::optional<plan::TacticRecord> best, heuristic;
    size_t timed = 0;
    const auto started = std::chrono::steady_clock::now();
    for (size_t i = 0; i < count; ++i) {
        const size_t bytes = c.workspace(i);
        if (ctx.run.workspaceLimit != 0 && bytes > ctx.run.workspaceLimit) continue;
        Scratch ws(ctx.run.arena);
        // A candidate whose workspace does not fit in device memory is skipped, not an error.
        if (Status s = ws.allocate(bytes); !s) {
            if (s.code() == ErrorCode::kOutOfRange) continue;
            return s;
        }
        // The first run (lazy module loading, library set-up) is timed only to prune hopeless candidates.
        KILN_CUDA_CHECK(cudaEventRecord(events[0], ctx.stream()));
        Status first = c.run(i, ws.data());
        if (first.code() == ErrorCode::kUnsupported) continue;
        KILN_RETURN_IF_ERROR(first);
        for (int w = 1; w < mEffort.warmups; ++w) KILN_RETURN_IF_ERROR(c.run(i, ws.data()));
        KILN_CUDA_CHECK(cudaEventRecord(events[1], ctx.stream()));
        KILN_CUDA_CHECK(cudaEventSynchronize(events[1]));
        ++timed;
        KILN_ASSIGN_OR_RETURN(const float warmMs, elapsedMs(events[0], events[1]));
        if (best && warmMs / std::max(mEffort.warmups, 1) > kPruneFactor * best->ms) continue;
        // Runs back to back, an event between each: the median of the gaps is the candidate's time. The spin
        // holds the stream while the host queues them all, so the gaps are GPU time: without it, the host's cost
        // per library call (tens of microseconds for cuDNN) was what got timed, and ResNet-50's small
        // convolutions chose algorithms that ran 2-10x slower on the GPU.
        KILN_CUDA_CHECK(
            launchTimingSpin(kSpinBaseNs + kSpinPerRunNs * static_cast<uint64_t>(iterations), ctx.stream()));
        for (int k = 0; k < iterations; ++k) {
            KILN_CUDA_CHECK(cudaEventRecord(events[static_cast<size_t>(k) + 1], ctx.stream()));
            KILN_RETURN_IF_ERROR(c.run(i, ws.data()));
        }
        KILN_CUDA_CHECK(cudaEventRecord(events[static_cast<size_t>(iterations) + 1], ctx.stream()));
        KILN_CUDA_CHECK(cudaEventSynchronize(events[static_cast<size_t>(iterations) + 1]));
        std::vector<float> ms;
        for (int k = 0; k < iterations; ++k) {
            KILN_ASSIGN_OR_RETURN(const float t,
                                  elapsedMs(events[static_cast<size_t>(k) + 1], events[static_cast<size_t>(k) + 2]));
            ms.push_back(t);
        }
        std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
        const double median = ms[ms.size() / 2];
        if (i == 0) heuristic = plan::TacticRecord{c.encode(i), median, 0};
        if (!best || median < best->ms) best = plan::TacticRecord{c.encode(i), median, 0};
    }
    if (heuristic && best && best->ms * kWinMargin > heuristic->ms) best = heuristic;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (best) best->candidates = static_cast<int>(timed);
    std::lock_guard<std::mutex> lock(mMutex);
    mStats.candidatesTimed += timed;
    mStats.timingSeconds += seconds;
    if (timed > 0) ++mStats.problemsTimed;
    return best;
}

Result<std::string> TacticTuner::choose(CudaKernelContext& ctx, const std::string& signature,
                                        const std::function<Result<TacticCandidates>()>& list) {
    {
        std::lock_guard<std::mutex> lock(mMutex);
        if (std::optional<plan::TacticRecord> hit = mCache.find(signature)) {
            ++mStats.cacheHits;
            if (!mAssigned.count(&ctx.node)) mAssigned[&ctx.node] = {signature, hit->tactic};
            return hit->tactic;
        }
    }
    KILN_ASSIGN_OR_RETURN(TacticCandidates candidates, list());
    KILN_ASSIGN_OR_RETURN(std::optional<plan::TacticRecord> best, timeCandidates(ctx, candidates));
    if (!best) return std::string();
    std::lock_guard<std::mutex> lock(mMutex);
    mCache.insert(signature, *best);
    if (!mAssigned.count(&ctx.node)) mAssigned[&ctx.node] = {signature, best->tactic};
    return best->tactic;
}

std::map<const ir::Node*, std::pair<std::string, std::string>> TacticTuner::assignments() const {
    std::lock_guard<std::mutex> lock(mMutex);
    return mAssigned;
}

TuningStats TacticTuner::stats() const {
    std::lock_guard<std::mutex> lock(mMutex);
    TuningStats s = mStats;
    s.layers = mAssigned.size();
    return s;
}

Result<std::string> chooseTactic(CudaKernelContext& ctx, const std::string& signature,
                                 const std::function<Result<TacticCandidates>()>& list) {
    if (ctx.run.tuner != nullptr && ctx.run.tuner->level() > 0) return ctx.run.tuner->choose(ctx, signature, list);
    const std::optional<std::vector<std::string>> recorded = ctx.attrs().getStrings(kTacticAttribute);
    if (!recorded || recorded->size() != 2 || (*recorded)[0] != signature) return std::string();
    return (*recorded)[1];
}

}  // namespace kiln::cuda
