// plan::saveEngineFile is atomic: a writer SIGKILLed at any moment leaves the engine path absent or holding a
// complete engine that loads with its checksum verified, never a partial one. What a killed writer leaves is its
// hidden temp file (".<name>.tmp-XXXXXX", never the engine path); the next write to the same path removes it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "model_builder.h"
#include "plan/engine_file.h"

namespace kiln::plan {
namespace {

namespace fs = std::filesystem;
using kiln::testing::TempDir;

constexpr int64_t kWeightFloats = 12 << 20;  // 48 MB: a write takes long enough to be killed in the middle

std::unique_ptr<ir::Graph> bigGraph() {
    auto g = std::make_unique<ir::Graph>("big");
    ir::Value* w = g->createValue("w").value();
    Tensor t(DataType::kFloat32, {kWeightFloats});
    for (int64_t i = 0; i < kWeightFloats; i += 1021) t.data<float>()[i] = static_cast<float>(i);
    w->setConstant(std::move(t));
    g->addOutput(w);
    return g;
}

std::vector<fs::path> tempFiles(const fs::path& dir, const std::string& engineName) {
    std::vector<fs::path> out;
    const std::string prefix = "." + engineName + kTempInfix;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
    }
    return out;
}

TEST(EngineAtomicWrite, WritersKilledAtRandomMomentsLeaveNoPartialEngine) {
    TempDir dir;
    const std::string path = dir.file("big.engine");
    const auto graph = bigGraph();
    std::mt19937 rng(20240611);
    constexpr int kKills = 24;
    int absent = 0, complete = 0, maxTemps = 0, tempsThatLoad = 0;
    std::vector<int> delays;
    for (int k = 0; k < kKills; ++k) {
        const pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            EngineMetadata meta = EngineMetadata::current("cpu");
            for (int i = 0;; ++i) {
                meta.modelPath = "writer " + std::to_string(k) + " iteration " + std::to_string(i);
                if (!saveEngineFile(path, *graph, meta)) _exit(1);
            }
        }
        // From "before the first write completed" (the first kill: the path must then be absent) to "several
        // complete writes in".
        const int delayMs = k == 0 ? 5 : static_cast<int>(rng() % 400);
        delays.push_back(delayMs);
        std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
        ASSERT_EQ(kill(child, SIGKILL), 0);
        int status = 0;
        ASSERT_EQ(waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the writer failed instead of being killed (status " << status << ")";

        if (!fs::exists(path)) {
            ++absent;
        } else {
            auto loaded = loadEngineFile(path);  // checksum verified
            ASSERT_TRUE(loaded) << "kill " << k << " after " << delayMs << " ms: " << loaded.status().message();
            ASSERT_EQ(loaded->graph->outputs().size(), 1u);
            const Tensor& w = loaded->graph->outputs()[0]->constant();
            ASSERT_EQ(w.numel(), kWeightFloats);
            EXPECT_EQ(w.data<float>()[kWeightFloats - 1 - (kWeightFloats - 1) % 1021],
                      static_cast<float>(kWeightFloats - 1 - (kWeightFloats - 1) % 1021));
            EXPECT_EQ(loaded->metadata.modelPath.rfind("writer ", 0), 0u) << loaded->metadata.modelPath;
            ++complete;
        }
        // At most the killed writer's temp file and one of an earlier writer killed before it cleaned up.
        const auto temps = tempFiles(dir.path(), "big.engine");
        EXPECT_LE(temps.size(), 2u);
        maxTemps = std::max(maxTemps, static_cast<int>(temps.size()));
        for (const fs::path& t : temps) tempsThatLoad += static_cast<bool>(loadEngineFile(t.string()));
    }
    // The next write removes what the killed writers left.
    ASSERT_TRUE(saveEngineFile(path, *graph, EngineMetadata::current("cpu")).isOk());
    EXPECT_TRUE(tempFiles(dir.path(), "big.engine").empty());
    EXPECT_TRUE(loadEngineFile(path));

    std::string delayText;
    for (int d : delays) delayText += std::to_string(d) + " ";
    std::printf(
        "  %d writers killed after %sms: engine path absent %d times, a complete engine %d times; at most %d "
        "temp file(s) left after a kill (%d complete ones, killed between fsync and rename); none after the "
        "next write\n",
        kKills, delayText.c_str(), absent, complete, maxTemps, tempsThatLoad);
    EXPECT_GT(complete, 0);
    EXPECT_GT(absent, 0);
}

TEST(EngineAtomicWrite, ALiveWritersTempFileIsNotRemoved) {
    // Cleaning up must not remove the temp file of a writer that is still writing: it holds a lock on it.
    TempDir dir;
    const std::string path = dir.file("e.engine");
    const std::string temp = dir.file(std::string(".e.engine") + kTempInfix + "live01");
    const int fd = ::open(temp.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    const std::string dead = dir.writeBytes(std::string(".e.engine") + kTempInfix + "dead01", "half an engine");
    auto g = std::make_unique<ir::Graph>("g");
    ir::Value* w = g->createValue("w").value();
    w->setConstant(Tensor::fromVector<float>({1, 2, 3}));
    g->addOutput(w);
    ASSERT_TRUE(saveEngineFile(path, *g, EngineMetadata::current("cpu")).isOk());
    EXPECT_TRUE(fs::exists(temp)) << "a live writer's temp file was removed";
    EXPECT_FALSE(fs::exists(dead)) << "a dead writer's temp file was left";
    ::close(fd);
}

}  // namespace
}  // namespace kiln::plan
