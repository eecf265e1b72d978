#include "plan/digest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

namespace kiln::plan {

std::string toHex(const unsigned char* p, size_t n) {
    static const char* kDigits = "0123456789abcdef";
    std::string s(2 * n, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = kDigits[p[i] >> 4];
        s[2 * i + 1] = kDigits[p[i] & 15];
    }
    return s;
}

namespace {

//! Byte-at-a-time table of the reflected Castagnoli polynomial, for CPUs without the CRC32 instruction.
constexpr std::array<uint32_t, 256> kCrc32cTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[i] = c;
    }
    return t;
}();

uint32_t crc32cSoftware(uint32_t c, const unsigned char* p, size_t n) noexcept {
    for (size_t i = 0; i < n; ++i) c = kCrc32cTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32cSse42(uint32_t c, const unsigned char* p, size_t n) noexcept {
    uint64_t c64 = c;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        c64 = _mm_crc32_u64(c64, word);
    }
    c = static_cast<uint32_t>(c64);
    for (; n > 0; ++p, --n) c = _mm_crc32_u8(c, *p);
    return c;
}
bool haveSse42() noexcept {
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse4.2") != 0;
    }();
    return has;
}
#endif

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t size) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
#if defined(__x86_64__)
    if (haveSse42()) return ~crc32cSse42(~crc, p, size);
#endif
    return ~crc32cSoftware(~crc, p, size);
}

std::string sha256Hex(const void* data, size_t size) {
    Sha256 h;
    h.update(data, size);
    return toHex(h.finish());
}

Result<std::string> sha256File(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return notFound("cannot open '" + path + "': " + std::strerror(errno));
    Sha256 h;
    std::vector<char> buf(1 << 20);
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return ioError("cannot read '" + path + "': " + std::strerror(err));
        }
        if (n == 0) break;
        h.update(buf.data(), static_cast<size_t>(n));
    }
    ::close(fd);
    return toHex(h.finish());
}

std::string fileStamp(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    auto ns = [](const timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; };
    const int64_t nowNs =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    // ctime is set by the kernel on every write and cannot be set back (unlike mtime: touch -d, cp -p, tar).
    if (std::max(ns(st.st_mtim), ns(st.st_ctim)) > nowNs - int64_t{2000000000}) return {};
    return std::to_string(st.st_size) + ":" + std::to_string(ns(st.st_mtim)) + ":" + std::to_string(ns(st.st_ctim)) +
           ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_dev);
}

}  // namespace kiln::plan
