#include "cli.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace kiln::cli {

namespace fs = std::filesystem;

int fail(const Status& status) {
    std::cerr << "kiln: error: " << status.message() << "\n";
    return kExitError;
}

int usage(const std::string& message) {
    std::cerr << "kiln: error: " << escapeControlChars(message) << "\n";
    return kExitUsage;
}

void warn(const std::string& message) { std::cerr << "kiln: warning: " << escapeControlChars(message) << "\n"; }

void CliLogger::log(Severity severity, const char* msg) noexcept {
    try {
        std::lock_guard<std::mutex> lock(mMutex);
        if (mObserver) mObserver(severity, msg);
        if (severity == Severity::kWarning) {
            warn(msg);
        } else if (mVerbose && severity != Severity::kError) {
            std::cerr << "[kiln] " << msg << "\n";
        }
    } catch (...) {
        // A logger must not throw; a failed write to stderr is not worth aborting a build for.
    }
}

void CliLogger::setObserver(std::function<void(Severity, const std::string&)> observer) {
    std::lock_guard<std::mutex> lock(mMutex);
    mObserver = std::move(observer);
}

CliLogger& logger() {
    static CliLogger instance;
    return instance;
}

bool isTerminal(int fd) { return ::isatty(fd) == 1; }

Status checkReadable(const std::string& path, const std::string& what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return notFound(what + " '" + path + "' does not exist");
    if (!fs::is_regular_file(path, ec)) return invalidArgument(what + " '" + path + "' is not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) return ioError("cannot read " + what + " '" + path + "': " + std::strerror(errno));
    return Status::ok();
}

Status checkWritable(const std::string& path, const std::string& what) {
    const fs::path parent = fs::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !fs::is_directory(parent, ec)) {
        return notFound("cannot write " + what + " '" + path + "': folder '" + parent.string() + "' does not exist");
    }
    if (fs::is_directory(path, ec)) return invalidArgument(what + " '" + path + "' is a folder");
    if (::access(parent.empty() ? "." : parent.c_str(), W_OK) != 0) {
        return ioError("cannot write " + what + " '" + path + "': " + std::strerror(errno));
    }
    return Status::ok();
}

}  // namespace kiln::cli
