// kiln-conformance: runs ONNX backend-test folders on the CPU reference backend.
//
//   kiln-conformance --data /usr/share/libonnx-testdata/data/node --expectations tests/conformance/expectations.txt
//
// Each test runs in a child process (a crash or a hang fails that test alone). Exit status is non-zero when a
// test that the expectations file does not list fails, or when a listed test passes (the file must stay true).
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "runner.h"

namespace fs = std::filesystem;
using kiln::conformance::Outcome;
using kiln::conformance::TestResult;

namespace {

TestResult runIsolated(const std::string& dir, const std::string& name, const kiln::conformance::Tolerance& tol,
                       const kiln::conformance::RunOptions& runOptions, unsigned timeoutSeconds) {
    int fds[2];
    if (pipe(fds) != 0) return kiln::conformance::runTest(dir, name, tol, runOptions);
    // The child must not inherit unwritten output: a library that exits it through exit() would write the parent's
    // buffered lines a second time (the GPU check's logs repeated every earlier result once per test).
    std::cout.flush();
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(timeoutSeconds);
        TestResult r = kiln::conformance::runTest(dir, name, tol, runOptions);
        std::string msg =
            std::to_string(static_cast<int>(r.outcome)) + "\n" + std::to_string(r.seconds) + "\n" + r.detail;
        ssize_t off = 0;
        while (off < static_cast<ssize_t>(msg.size())) {
            const ssize_t w = write(fds[1], msg.data() + off, msg.size() - off);
            if (w <= 0) break;
            off += w;
        }
        _exit(0);
    }
    close(fds[1]);
    std::string msg;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    TestResult r;
    r.name = name;
    if (WIFSIGNALED(status)) {
        r.outcome = Outcome::kFail;
        const int sig = WTERMSIG(status);
        r.detail = sig == SIGALRM ? "timed out after " + std::to_string(timeoutSeconds) + " s"
                                  : std::string("crashed: ") + strsignal(sig);
        return r;
    }
    const auto a = msg.find('\n');
    const auto b = msg.find('\n', a + 1);
    if (a == std::string::npos || b == std::string::npos) {
        r.outcome = Outcome::kFail;
        r.detail = "test process exited without a result";
        return r;
    }
    r.outcome = static_cast<Outcome>(std::stoi(msg.substr(0, a)));
    r.seconds = std::stod(msg.substr(a + 1, b - a - 1));
    r.detail = msg.substr(b + 1);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Runs ONNX backend-test folders (model.onnx + test_data_set_*) on Kiln's CPU reference backend"};
    std::vector<std::string> dataDirs;
    std::vector<std::string> expectationsPaths;
    std::string filter;
    std::vector<std::string> excludes;
    bool verbose = false;
    bool noIsolate = false;
    bool allowStale = false;
    unsigned timeout = 120;
    kiln::conformance::Tolerance tol;
    kiln::conformance::RunOptions runOptions;
    app.add_option("--data", dataDirs,
                   "Suite folder holding one folder per test; repeatable (suite name = folder name)")
        ->required();
    app.add_option("--expectations", expectationsPaths,
                   "File of tests expected not to pass: 'suite/test category reason'; repeatable (e.g. the common "
                   "file plus a backend's own)");
    app.add_option("--filter", filter, "Only run tests whose name contains this text");
    app.add_option("--exclude", excludes, "Skip tests whose name contains this text; repeatable");
    app.add_option("--rtol", tol.rtol, "Relative tolerance (default 1e-3, as ONNX's backend tests)");
    app.add_option("--atol", tol.atol, "Absolute tolerance (default 1e-7)");
    app.add_option("--max-rel", tol.maxRel, "Compare by max|kiln-ref|/max|ref| <= this instead (real models)");
    app.add_option("--timeout", timeout, "Seconds per test before it counts as failed (default 120)");
    app.add_flag("-v,--verbose", verbose, "Print every test, not only the ones that do not pass");
    app.add_flag("--no-isolate", noIsolate, "Run tests in this process (for debuggers)");
    app.add_flag("--allow-stale", allowStale, "Do not fail when a test listed in the expectations file passes");
    app.add_flag("--optimize", runOptions.optimize,
                 "Run the optimizing passes first; fail where they change outputs by more than 1e-5 relative");
    app.add_option("--optimize-max-rel", runOptions.optimizedMaxRel,
                   "With --optimize: allowed max|optimized-unoptimized|/max|unoptimized| (default 1e-5)");
    app.add_option("--backend", runOptions.backend,
                   "ref (default): the CPU reference executor on the imported model; cpu or cuda: an engine built "
                   "through the public API for that backend")
        ->check(CLI::IsMember({"ref", "cpu", "cuda"}));
    app.add_option("--precision", runOptions.precision, "With --backend cpu|cuda: fp32 (TF32 off), tf32, fp16, bf16")
        ->check(CLI::IsMember({"fp32", "tf32", "fp16", "bf16"}));
    app.add_option("--round-inputs", runOptions.roundInputs,
                   "Round float32 inputs to tf32, fp16 or bf16 precision before running: with an FP32 run, measures "
                   "the model's own sensitivity to that precision (the floor a reduced-precision engine cannot beat)")
        ->check(CLI::IsMember({"tf32", "fp16", "bf16"}));
    app.add_option("--accuracy", runOptions.accuracy,
                   "With --backend cpu|cuda: build with the accuracy guard at this max relative error, calibrated on "
                   "each test's calib_set_*/ inputs (random without them), e.g. --accuracy 1e-2")
        ->check(CLI::PositiveNumber);
    app.add_flag("--emulate-precision", runOptions.emulate,
                 "With --backend cpu: lower FP16/BF16 as the CUDA backend does, on the CPU's FP16/BF16 kernels");
    CLI11_PARSE(app, argc, argv);

    std::map<std::string, kiln::conformance::Expectation> expectations;
    for (const std::string& path : expectationsPaths) {
        auto e = kiln::conformance::loadExpectations(path);
        if (!e) {
            std::cerr << "kiln-conformance: " << e.status().message() << "\n";
            return 2;
        }
        for (auto& [name, exp] : *e) {
            if (!expectations.emplace(name, exp).second) {
                std::cerr << "kiln-conformance: " << path << ": " << name << " is already listed in another file\n";
                return 2;
            }
        }
    }

    struct Totals {
        int pass = 0, fail = 0, unsupported = 0;
    };
    std::map<std::string, Totals> perSuite;
    int unexpected = 0;
    int stale = 0;
    int ranExpected = 0;
    for (const auto& dataDir : dataDirs) {
        if (!fs::is_directory(dataDir)) {
            std::cerr << "kiln-conformance: data folder '" << dataDir << "' does not exist\n";
            return 2;
        }
        const std::string suite = fs::path(dataDir).lexically_normal().filename().string().empty()
                                      ? fs::path(dataDir).lexically_normal().parent_path().filename().string()
                                      : fs::path(dataDir).lexically_normal().filename().string();
        std::vector<fs::path> tests;
        for (const auto& e : fs::directory_iterator(dataDir)) {
            if (e.is_directory() && fs::exists(e.path() / "model.onnx")) tests.push_back(e.path());
        }
        std::sort(tests.begin(), tests.end());
        for (const auto& t : tests) {
            const std::string name = suite + "/" + t.filename().string();
            if (!filter.empty() && name.find(filter) == std::string::npos) continue;
            if (std::any_of(excludes.begin(), excludes.end(),
                            [&](const std::string& x) { return name.find(x) != std::string::npos; })) {
                continue;
            }
            TestResult r = noIsolate ? kiln::conformance::runTest(t.string(), name, tol, runOptions)
                                     : runIsolated(t.string(), name, tol, runOptions, timeout);
            Totals& tot = perSuite[suite];
            (r.outcome == Outcome::kPass ? tot.pass : r.outcome == Outcome::kFail ? tot.fail : tot.unsupported)++;
            auto exp = expectations.find(name);
            const bool listed = exp != expectations.end();
            if (listed) ++ranExpected;
            std::string tag;
            if (r.outcome != Outcome::kPass && !listed) {
                ++unexpected;
                tag = "  [UNEXPECTED]";
            } else if (r.outcome == Outcome::kPass && listed) {
                ++stale;
                tag = "  [listed as " + exp->second.category + " but passes]";
            }
            if (verbose || r.outcome != Outcome::kPass || !tag.empty()) {
                std::printf("%-11s %s%s%s%s\n", kiln::conformance::outcomeName(r.outcome), name.c_str(),
                            r.detail.empty() ? "" : " — ", r.detail.c_str(), tag.c_str());
            }
        }
    }
    std::printf("\n");
    int pass = 0, fail = 0, unsup = 0;
    for (const auto& [suite, t] : perSuite) {
        const int total = t.pass + t.fail + t.unsupported;
        std::printf("%-20s %4d/%4d passed (%.1f%%), %d failed, %d unsupported\n", suite.c_str(), t.pass, total,
                    total ? 100.0 * t.pass / total : 0.0, t.fail, t.unsupported);
        pass += t.pass;
        fail += t.fail;
        unsup += t.unsupported;
    }
    std::printf("expectations: %d listed tests ran, %d not passing without an entry, %d listed but passing\n",
                ranExpected, unexpected, stale);
    const bool ok = unexpected == 0 && (allowStale || stale == 0);
    std::printf("conformance: %d passed, %d failed, %d unsupported — %s\n", pass, fail, unsup, ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
