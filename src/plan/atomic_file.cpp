#include "plan/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace kiln::plan {

namespace {

Status writeAll(int fd, const void* data, size_t size, const std::string& path) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return ioError("cannot write '" + path + "': " + std::strerror(errno));
        }
        p += n;
        size -= static_cast<size_t>(n);
    }
    return Status::ok();
}

//! Removes the temp files (`dir`/`prefix`*) that writers killed mid-write left behind. A live writer holds an
//! exclusive flock on its temp file until it has renamed it; the kernel drops a dead writer's lock, so a temp file
//! whose lock can be taken belongs to no one.
void removeStaleTempFiles(const std::filesystem::path& dir, const std::string& prefix) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        if (it->path().filename().string().rfind(prefix, 0) != 0) continue;
        const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) ::unlink(it->path().c_str());
        ::close(fd);
    }
}

}  // namespace

Status writeFileAtomically(const std::string& path, const std::function<Status(const WriteBytes&)>& produce) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const std::string prefix = "." + target.filename().string() + kTempInfix;
    removeStaleTempFiles(dir, prefix);
    std::string temp;
    int fd = -1;
    // A writer holds an exclusive flock on its temp file from creation until after the rename; another writer's
    // cleanup may have removed the file between mkstemp and flock, so a temp file found unlinked is made again.
    for (int attempt = 0; fd < 0 && attempt < 8; ++attempt) {
        temp = (dir / (prefix + "XXXXXX")).string();
        fd = ::mkstemp(temp.data());
        if (fd < 0) return ioError("cannot create a temp file next to '" + path + "': " + std::strerror(errno));
        struct stat st {};
        if (::flock(fd, LOCK_EX) != 0 || ::fstat(fd, &st) != 0 || st.st_nlink == 0) {
            ::close(fd);
            fd = -1;
        }
    }
    if (fd < 0) return ioError("cannot lock a temp file next to '" + path + "'");
    Status s = produce([&](const void* p, size_t n) { return writeAll(fd, p, n, temp); });
    if (s && ::fchmod(fd, 0644) != 0) s = ioError("cannot chmod '" + temp + "': " + std::strerror(errno));
    if (s && ::fsync(fd) != 0) s = ioError("cannot fsync '" + temp + "': " + std::strerror(errno));
    if (s && ::rename(temp.c_str(), path.c_str()) != 0) {
        s = ioError("cannot rename '" + temp + "' to '" + path + "': " + std::strerror(errno));
    }
    if (!s) ::unlink(temp.c_str());
    ::close(fd);  // releases the lock only now: a cleanup never removes a temp file that is about to be renamed
    if (!s) return s;
    // The rename is durable only once the folder's entry is on disk.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return Status::ok();
}

}  // namespace kiln::plan
