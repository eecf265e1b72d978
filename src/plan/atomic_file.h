// Files written atomically: a temp file in the same folder, fsync, rename, fsync of the folder. Engine files
// (engine_file.h) and timing caches (timing_cache.h) are written this way.
#pragma once

#include <functional>
#include <string>

#include "kiln/status.h"

namespace kiln::plan {

//! Temp files of writeFileAtomically are named ".<file name>.tmp-XXXXXX", next to the file.
inline constexpr const char* kTempInfix = ".tmp-";

//! Appends bytes to the file being written; returns the write's status.
using WriteBytes = std::function<Status(const void* data, size_t size)>;

//! Writes `path` atomically through `produce`, which calls its WriteBytes argument with the content in order. A
//! crash leaves the old file or none, never a partial one. A writer killed mid-write leaves its temp file (hidden,
//! never at `path`); the next write of the same path removes such leftovers (those whose writer is gone: a live
//! writer holds an flock on its temp file). Concurrent writers of one path are safe: each renames a complete file,
//! the last rename wins. Errors name the file.
Status writeFileAtomically(const std::string& path, const std::function<Status(const WriteBytes&)>& produce);

}  // namespace kiln::plan
