// Writing JSON files (nlohmann-json) for the exports: --export-times, --export-profile, --json outputs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "kiln/status.h"

namespace kiln::cli {

//! Writes `json` to `path` (indented by `indent`); fails naming the file.
Status writeJson(const std::string& path, const nlohmann::json& json, int indent = 2);

}  // namespace kiln::cli
