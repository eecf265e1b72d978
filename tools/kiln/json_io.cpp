#include "json_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace kiln::cli {

Status writeJson(const std::string& path, const nlohmann::json& json, int indent) {
    std::ofstream out(path);
    if (out) out << json.dump(indent) << "\n";
    if (!out) return ioError("cannot write '" + path + "': " + std::strerror(errno));
    return Status::ok();
}

}  // namespace kiln::cli
