#include "progress.h"

#include <cstdlib>

namespace kiln::cli {

BuildProgress::BuildProgress(std::FILE* out, bool live) : mOut(out), mLive(live && out != nullptr) {
    if (mLive) mThread = std::thread([this] { redrawLoop(); });
}

BuildProgress::~BuildProgress() { finish(); }

void BuildProgress::phase(const std::string& name, const std::string& detail) {
    std::lock_guard<std::mutex> lock(mMutex);
    const auto now = Clock::now();
    if (!mPhase.empty()) mPhaseTimes.emplace_back(mPhase, std::chrono::duration<double>(now - mPhaseStart).count());
    mPhase = name;
    mStep = detail;
    mPhaseStart = now;
    if (mOut != nullptr && !mLive && !mDone) {
        std::fprintf(mOut, "[%7.2f s] %s%s%s\n", std::chrono::duration<double>(now - mStart).count(), name.c_str(),
                     detail.empty() ? "" : ": ", detail.c_str());
        std::fflush(mOut);
    }
}

void BuildProgress::setStep(const std::string& step) {
    std::lock_guard<std::mutex> lock(mMutex);
    mStep = step;
}

void BuildProgress::onLog(ILogger::Severity severity, const std::string& line) {
    // The builder's lines (src/builder/builder.cpp, src/passes/pass_manager.cpp) mark its phases.
    if (line.rfind("parsed ", 0) == 0) {
        phase("optimize", "copy the network, run the pass pipeline");
    } else if (line.rfind("optimized: ", 0) == 0) {
        char* end = nullptr;
        const char* p = line.c_str() + 11;
        const long before = std::strtol(p, &end, 10);
        if (end != p && std::string(end).rfind(" -> ", 0) == 0) {
            const long after = std::strtol(end + 4, nullptr, 10);
            std::lock_guard<std::mutex> lock(mMutex);
            mNodesBefore = before;
            mNodesAfter = after;
        }
        phase("write", "serialize, checksum and write the engine");
    } else if (line.rfind("accuracy guard: ", 0) == 0 &&
               line.find(" lowered layers in FP32: error") != std::string::npos) {
        // src/builder/accuracy_guard.cpp: one line per candidate engine ("12 of 383 lowered layers in FP32: ...").
        if (mPhase != "accuracy guard") phase("accuracy guard", "");
        setStep("last candidate: " + line.substr(16));
    } else if (line.rfind("pipeline iteration ", 0) == 0) {
        setStep(line.substr(9));
    } else if (severity == ILogger::Severity::kVerbose || severity == ILogger::Severity::kInfo) {
        // "<pass>: <what it did>" during the pipeline: the step is the pass name.
        const size_t colon = line.find(':');
        if (colon != std::string::npos && colon < 40 && line.find(' ') > colon && line.rfind("pipeline:", 0) != 0 &&
            mPhase == "optimize") {
            setStep("pass " + line.substr(0, colon));
        }
    }
}

void BuildProgress::finish() {
    {
        std::lock_guard<std::mutex> lock(mMutex);
        if (mDone) return;
        mDone = true;
        if (!mPhase.empty()) {
            mPhaseTimes.emplace_back(mPhase, std::chrono::duration<double>(Clock::now() - mPhaseStart).count());
        }
    }
    mWake.notify_all();
    if (mThread.joinable()) mThread.join();
    if (mLive) {
        std::fputs("\r\033[K", mOut);
        std::fflush(mOut);
    }
}

double BuildProgress::elapsedSeconds() const { return std::chrono::duration<double>(Clock::now() - mStart).count(); }

std::vector<std::pair<std::string, double>> BuildProgress::phaseTimes() const {
    std::lock_guard<std::mutex> lock(mMutex);
    return mPhaseTimes;
}

void BuildProgress::draw() {
    const double total = std::chrono::duration<double>(Clock::now() - mStart).count();
    std::string step = mStep;
    if (step.size() > 60) step = step.substr(0, 57) + "...";
    std::fprintf(mOut, "\r\033[K  %-9s %-60s %7.1f s", mPhase.c_str(), step.c_str(), total);
    std::fflush(mOut);
}

void BuildProgress::redrawLoop() {
    std::unique_lock<std::mutex> lock(mMutex);
    while (!mDone) {
        if (!mPhase.empty()) draw();
        mWake.wait_for(lock, std::chrono::milliseconds(100));
    }
}

}  // namespace kiln::cli
