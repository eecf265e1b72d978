// The build's progress display. The builder reports what it does through its logger ("parsed ...", "pipeline
// iteration 2", "<pass>: ...", "optimized: 122 -> 71 nodes ..."); BuildProgress reads those lines to know the phase
// (load, parse, optimize, write) and the step within it (pass, iteration). On a terminal it redraws one line in
// place ten times a second (phase, step, elapsed); otherwise it prints one plain line per phase, for logs.
//
// No ETA is shown: no phase has a length known in advance (the pass pipeline runs to a fixed point; the CPU
// backend has no kernel search whose size could be counted).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::cli {

class BuildProgress {
public:
    //! `live`: redraw one line in place on `out` (a terminal); otherwise plain lines. A null `out` displays nothing
    //! (the phases are still timed for the summary).
    BuildProgress(std::FILE* out, bool live);
    ~BuildProgress();
    BuildProgress(const BuildProgress&) = delete;
    BuildProgress& operator=(const BuildProgress&) = delete;

    //! Starts a phase ("parse", "optimize", ...) with a detail ("model.onnx").
    void phase(const std::string& name, const std::string& detail = {});
    //! Feeds one builder log line (CliLogger's observer).
    void onLog(ILogger::Severity severity, const std::string& line);
    //! Ends the display (clears the live line).
    void finish();

    double elapsedSeconds() const;
    //! Seconds spent in each phase, in order.
    std::vector<std::pair<std::string, double>> phaseTimes() const;
    //! Node counts from the builder's "optimized: A -> B nodes" line; -1 when it did not optimize (engine loaded).
    long nodesBefore() const { return mNodesBefore; }
    long nodesAfter() const { return mNodesAfter; }

private:
    using Clock = std::chrono::steady_clock;
    void redrawLoop();
    void draw();
    void setStep(const std::string& step);

    std::FILE* mOut;
    bool mLive;
    Clock::time_point mStart = Clock::now();
    mutable std::mutex mMutex;
    std::condition_variable mWake;
    bool mDone = false;
    std::string mPhase;
    std::string mStep;
    Clock::time_point mPhaseStart = mStart;
    std::vector<std::pair<std::string, double>> mPhaseTimes;
    long mNodesBefore = -1;
    long mNodesAfter = -1;
    std::thread mThread;
};

}  // namespace kiln::cli
