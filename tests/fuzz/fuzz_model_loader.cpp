// libFuzzer target: bytes → model file → loadModelProto → importModel and checkModel. Built with ASan and UBSan
// when KILN_FUZZ=ON (tests/fuzz/run_fuzz.sh). Any crash, sanitizer report, exception or broken invariant is a bug:
// every input must end in a Status.
//
// The input is written to a file in a private scratch folder that is also the model's folder, so external data
// can only resolve to that file (the model itself) or to nothing.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "frontend/onnx/importer.h"

namespace {

namespace fs = std::filesystem;

struct Scratch {
    std::string dir;
    std::string model;
    Scratch() {
        std::string pattern = (fs::temp_directory_path() / "kiln-fuzz-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            std::perror("mkdtemp");
            std::abort();
        }
        dir = pattern;
        model = (fs::path(dir) / "model.onnx").string();
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "invariant broken: %s: %s\n", what, detail.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Scratch scratch;
    {
        std::ofstream out(scratch.model, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    using namespace kiln::onnx_frontend;  // NOLINT(google-build-using-namespace)
    auto proto = loadModelProto(scratch.model);
    if (!proto) return 0;
    auto imported = importModel(*proto, scratch.dir);
    auto report = checkModel(*proto, scratch.dir);
    // check is import without reading weights: whatever imports must also pass the check, with nothing listed.
    if (imported) {
        if (!report) fail("imports but the check fails", report.status().message());
        if (!report->empty()) fail("imports but the check lists", report->front().describe());
    }
    return 0;
}
