// Digests for engine files and source models: SHA-256 (OpenSSL EVP) to identify a model and guard the engine
// header, CRC-32C to detect damage in the engine body, and file stamps under which a model's recorded SHA-256 is
// reused without reading the model again.
//
// Why CRC-32C for the body: it guards against damage (bit flips, truncation, a half-copied file), as an unsigned
// SHA-256 would, neither guards against tampering, and with the SSE4.2 instruction it reads about 7 GB/s where
// SHA-256 reads about 1.2 GB/s on Kiln's machines. Verifying the body is most of the cost of reusing an engine
// file (15 ms instead of 85 ms for ResNet-50's 100 MB).
//
// Thread safety: the functions are reentrant; a Sha256 object is used by one thread at a time.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/status.h"

namespace kiln::plan {

inline constexpr size_t kShaBytes = 32;
using Digest = std::array<unsigned char, kShaBytes>;

std::string toHex(const unsigned char* p, size_t n);
inline std::string toHex(const Digest& d) { return toHex(d.data(), d.size()); }

//! Incremental SHA-256 over OpenSSL's EVP interface.
class Sha256 {
public:
    Sha256() : mCtx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(mCtx, EVP_sha256(), nullptr); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    ~Sha256() { EVP_MD_CTX_free(mCtx); }
    void update(const void* p, size_t n) {
        if (n) EVP_DigestUpdate(mCtx, p, n);
    }
    Digest finish() {
        Digest out{};
        unsigned int len = 0;
        EVP_DigestFinal_ex(mCtx, out.data(), &len);
        return out;
    }

private:
    EVP_MD_CTX* mCtx;
};

//! Lowercase hex SHA-256 (OpenSSL EVP).
std::string sha256Hex(const void* data, size_t size);
//! Lowercase hex SHA-256 of a file's contents, read in chunks.
Result<std::string> sha256File(const std::string& path);

//! CRC-32C (Castagnoli, as in iSCSI, ext4 and RocksDB) of `size` bytes, continuing from `crc` (0 to start):
//! crc32c(crc32c(0, a, n), b, m) is the CRC of a followed by b. The SSE4.2 instruction where the CPU has it.
uint32_t crc32c(uint32_t crc, const void* data, size_t size) noexcept;

//! "<bytes>:<mtime ns>:<ctime ns>:<inode>:<device>" of a regular file: while a file keeps its stamp, a digest taken
//! under that stamp still holds (the check git's index makes; ctime changes with every write and, unlike mtime,
//! cannot be set back). Empty when it cannot be trusted: the file cannot be stat'ed, or it changed less than 2
//! seconds ago, when a later write could leave the same size and (coarse-grained) timestamps.
std::string fileStamp(const std::string& path);

}  // namespace kiln::plan
