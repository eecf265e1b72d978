// plan::TimingCache, the persistent cache of tactic timings (plan/timing_cache.h): file round trip, keying by
// environment and signature, another GPU's or library's cache ignored, a corrupt file reported and replaced, and
// the atomic merged write.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "model_builder.h"
#include "plan/atomic_file.h"
#include "plan/timing_cache.h"

namespace kiln::plan {
namespace {

using kiln::testing::TempDir;

TimingEnvironment h100() { return {"NVIDIA H100 80GB HBM3", 9, 0, 91400, 130100}; }

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TimingCache twoEntries() {
    TimingCache c(h100());
    c.insert("cudnn.fwd|dtype=float16|in=1x64x56x56", {"algo=1 math=1 workspace=4096", 0.0125, 5});
    c.insert("cublaslt.matmul|dtype=float16|mnk=1x1000x2048", {"algo=00ff workspace=0", 0.004, 8});
    return c;
}

TEST(TimingCache, RoundTripsThroughItsText) {
    const TimingCache c = twoEntries();
    auto back = TimingCache::parse(c.serialize(), "mem");
    ASSERT_TRUE(back.isOk()) << back.status().message();
    EXPECT_EQ(back->environment(), h100());
    ASSERT_EQ(back->size(), 2u);
    const auto rec = back->find("cudnn.fwd|dtype=float16|in=1x64x56x56");
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(rec->tactic, "algo=1 math=1 workspace=4096");
    EXPECT_DOUBLE_EQ(rec->ms, 0.0125);
    EXPECT_EQ(rec->candidates, 5);
}

TEST(TimingCache, KeyedBySignatureAndEnvironment) {
    TimingCache c = twoEntries();
    EXPECT_FALSE(c.find("cudnn.fwd|dtype=float16|in=2x64x56x56").has_value()) << "another shape is another layer";
    // merge() adds only entries this cache lacks, and only from the same environment.
    TimingCache other(h100());
    other.insert("cudnn.fwd|dtype=float16|in=1x64x56x56", {"algo=7 math=1 workspace=0", 0.5, 2});
    other.insert("cudnn.fwd|dtype=float16|in=8x64x56x56", {"algo=0 math=1 workspace=0", 0.1, 2});
    c.merge(other);
    EXPECT_EQ(c.size(), 3u);
    EXPECT_EQ(c.find("cudnn.fwd|dtype=float16|in=1x64x56x56")->tactic, "algo=1 math=1 workspace=4096");
    TimingEnvironment a100 = h100();
    a100.gpu = "NVIDIA A100-SXM4-80GB";
    a100.computeMinor = 0;
    a100.computeMajor = 8;
    TimingCache foreign(a100);
    foreign.insert("cudnn.fwd|x", {"algo=2 math=0 workspace=0", 1, 1});
    c.merge(foreign);
    EXPECT_EQ(c.size(), 3u);
    EXPECT_EQ(h100().describe(), "NVIDIA H100 80GB HBM3 (sm_90), cuDNN 91400, cuBLASLt 130100");
}

TEST(TimingCache, LoadsItsOwnEnvironmentsFile) {
    TempDir dir;
    const std::string path = dir.file("kiln.cache");
    ASSERT_TRUE(saveTimingCache(path, twoEntries()).isOk());
    const LoadedTimingCache loaded = loadTimingCache(path, h100());
    EXPECT_TRUE(loaded.note.empty()) << loaded.note;
    EXPECT_FALSE(loaded.corrupt);
    EXPECT_EQ(loaded.cache.size(), 2u);
}

TEST(TimingCache, MissingFileIsAnEmptyCacheWithANote) {
    TempDir dir;
    const LoadedTimingCache loaded = loadTimingCache(dir.file("none.cache"), h100());
    EXPECT_EQ(loaded.cache.size(), 0u);
    EXPECT_FALSE(loaded.corrupt);
    EXPECT_NE(loaded.note.find("does not exist yet"), std::string::npos) << loaded.note;
}

TEST(TimingCache, AnotherGpuOrLibraryVersionIsIgnored) {
    TempDir dir;
    const std::string path = dir.file("kiln.cache");
    ASSERT_TRUE(saveTimingCache(path, twoEntries()).isOk());
    TimingEnvironment otherGpu = h100();
    otherGpu.gpu = "NVIDIA H200";
    TimingEnvironment otherCudnn = h100();
    otherCudnn.cudnnVersion = 91500;
    TimingEnvironment otherLt = h100();
    otherLt.cublasLtVersion = 130200;
    TimingEnvironment otherSm = h100();
    otherSm.computeMinor = 1;
    for (const TimingEnvironment& env : {otherGpu, otherCudnn, otherLt, otherSm}) {
        const LoadedTimingCache loaded = loadTimingCache(path, env);
        EXPECT_EQ(loaded.cache.size(), 0u) << env.describe();
        EXPECT_EQ(loaded.cache.environment(), env);
        EXPECT_FALSE(loaded.corrupt);
        EXPECT_NE(loaded.note.find("was written for " + h100().describe() + ", this is " + env.describe()),
                  std::string::npos)
            << loaded.note;
        EXPECT_EQ(loaded.note.find('\n'), std::string::npos) << "one line";
    }
}

TEST(TimingCache, CorruptFileIsNamedAndIgnored) {
    TempDir dir;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"garbage.cache", "\x01\x02not json"},
        {"truncated.cache", twoEntries().serialize().substr(0, 80)},
        {"other.cache", R"({"format": "something-else", "version": 1})"},
        {"noentries.cache", R"({"format": "kiln-timing-cache", "version": 1, "environment": {"gpu": "x",
            "compute": "9.0", "cudnn": 1, "cublaslt": 1}})"},
        {"badcompute.cache", R"({"format": "kiln-timing-cache", "version": 1, "environment": {"gpu": "x",
            "compute": "90", "cudnn": 1, "cublaslt": 1}, "entries": {}})"},
        {"notactic.cache", R"({"format": "kiln-timing-cache", "version": 1, "environment": {"gpu": "x",
            "compute": "9.0", "cudnn": 1, "cublaslt": 1}, "entries": {"sig": {"tactic": ""}}})"},
        {"future.cache", R"({"format": "kiln-timing-cache", "version": 99})"},
    };
    for (const auto& [name, text] : cases) {
        SCOPED_TRACE(name);
        const std::string path = dir.writeBytes(name, text);
        auto parsed = TimingCache::parse(text, path);
        ASSERT_FALSE(parsed.isOk());
        EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(parsed.status().message().find("timing cache '" + path + "'"), std::string::npos)
            << parsed.status().message();
        const LoadedTimingCache loaded = loadTimingCache(path, h100());
        EXPECT_TRUE(loaded.corrupt);
        EXPECT_EQ(loaded.cache.size(), 0u);
        EXPECT_NE(loaded.note.find(path), std::string::npos) << loaded.note;
        EXPECT_NE(loaded.note.find("ignored, a new one will be written"), std::string::npos) << loaded.note;
    }
}

TEST(TimingCache, SaveMergesWithTheFileAndReplacesForeignOrCorruptOnes) {
    TempDir dir;
    const std::string path = dir.file("kiln.cache");
    ASSERT_TRUE(saveTimingCache(path, twoEntries()).isOk());
    // Another build of the same environment added an entry after this one loaded the file: both survive.
    TimingCache mine(h100());
    mine.insert("cudnn.bwd_data|dtype=float16", {"algo=1 math=1 workspace=0", 0.2, 3});
    ASSERT_TRUE(saveTimingCache(path, mine).isOk());
    EXPECT_EQ(loadTimingCache(path, h100()).cache.size(), 3u);
    // A file of another GPU is replaced by this one's entries.
    TimingEnvironment h200 = h100();
    h200.gpu = "NVIDIA H200";
    TimingCache theirs(h200);
    theirs.insert("sig", {"algo=0 math=0 workspace=0", 1, 1});
    ASSERT_TRUE(saveTimingCache(path, theirs).isOk());
    const LoadedTimingCache reloaded = loadTimingCache(path, h200);
    EXPECT_EQ(reloaded.cache.size(), 1u);
    // A corrupt file is replaced too.
    dir.writeBytes("kiln.cache", "{ broken");
    ASSERT_TRUE(saveTimingCache(path, mine).isOk());
    EXPECT_EQ(loadTimingCache(path, h100()).cache.size(), 1u);
}

TEST(TimingCache, WriteIsAtomicAndLeavesNoTempFiles) {
    TempDir dir;
    const std::string path = dir.file("kiln.cache");
    // A killed writer's temp file (its lock released) is cleaned up by the next write.
    const std::string stale = dir.writeBytes(std::string(".kiln.cache") + kTempInfix + "dead01", "half a cache");
    ASSERT_TRUE(saveTimingCache(path, twoEntries()).isOk());
    EXPECT_FALSE(std::filesystem::exists(stale));
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        ++files;
        EXPECT_EQ(e.path().filename().string(), "kiln.cache");
    }
    EXPECT_EQ(files, 1u);
    EXPECT_TRUE(TimingCache::parse(readFile(path), path).isOk());
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::owner_read,
              std::filesystem::perms::owner_read);
}

TEST(TimingCache, UnwritableFolderIsAnErrorNamingTheFile) {
    const std::string path = "/nonexistent-kiln-dir/kiln.cache";
    const Status s = saveTimingCache(path, twoEntries());
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.code(), ErrorCode::kIoError);
    EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kiln::plan
