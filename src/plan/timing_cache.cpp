#include "plan/timing_cache.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "plan/atomic_file.h"

namespace kiln::plan {

namespace {

using Json = nlohmann::json;

constexpr const char* kFormatName = "kiln-timing-cache";

Json environmentJson(const TimingEnvironment& e) {
    return Json{{"gpu", e.gpu},
                {"compute", std::to_string(e.computeMajor) + "." + std::to_string(e.computeMinor)},
                {"cudnn", e.cudnnVersion},
                {"cublaslt", e.cublasLtVersion}};
}

TimingEnvironment environmentFrom(const Json& j) {
    TimingEnvironment e;
    e.gpu = j.at("gpu").get<std::string>();
    const std::string compute = j.at("compute").get<std::string>();
    const size_t dot = compute.find('.');
    if (dot == std::string::npos) throw std::invalid_argument("compute capability '" + compute + "' is not M.m");
    e.computeMajor = std::stoi(compute.substr(0, dot));
    e.computeMinor = std::stoi(compute.substr(dot + 1));
    e.cudnnVersion = j.at("cudnn").get<int64_t>();
    e.cublasLtVersion = j.at("cublaslt").get<int64_t>();
    return e;
}

//! The file's text; nullopt when it does not exist.
Result<std::optional<std::string>> readText(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
    std::ifstream in(path, std::ios::binary);
    if (!in) return ioError("timing cache '" + path + "' cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return ioError("timing cache '" + path + "' cannot be read");
    return std::optional<std::string>(text.str());
}

}  // namespace

std::string TimingEnvironment::describe() const {
    return gpu + " (sm_" + std::to_string(computeMajor) + std::to_string(computeMinor) + "), cuDNN " +
           std::to_string(cudnnVersion) + ", cuBLASLt " + std::to_string(cublasLtVersion);
}

std::optional<TacticRecord> TimingCache::find(const std::string& signature) const {
    auto it = mEntries.find(signature);
    if (it == mEntries.end()) return std::nullopt;
    return it->second;
}

void TimingCache::merge(const TimingCache& other) {
    if (!(other.mEnv == mEnv)) return;
    for (const auto& [sig, rec] : other.mEntries) mEntries.emplace(sig, rec);
}

std::string TimingCache::serialize() const {
    Json entries = Json::object();
    for (const auto& [sig, rec] : mEntries) {
        entries[sig] = Json{{"tactic", rec.tactic}, {"ms", rec.ms}, {"candidates", rec.candidates}};
    }
    const Json j{{"format", kFormatName},
                 {"version", kTimingCacheFormat},
                 {"environment", environmentJson(mEnv)},
                 {"entries", std::move(entries)}};
    return j.dump(1) + "\n";
}

Result<TimingCache> TimingCache::parse(const std::string& text, const std::string& name) {
    const std::string what = "timing cache '" + name + "'";
    try {
        const Json j = Json::parse(text);
        if (!j.is_object() || j.value("format", std::string()) != kFormatName) {
            return invalidArgument(what + " is corrupt: not a Kiln timing cache (no \"format\": \"" + kFormatName +
                                   "\")");
        }
        const int version = j.at("version").get<int>();
        if (version != kTimingCacheFormat) {
            return invalidArgument(what + " has format version " + std::to_string(version) + ", this Kiln reads " +
                                   std::to_string(kTimingCacheFormat));
        }
        TimingCache cache(environmentFrom(j.at("environment")));
        for (const auto& [sig, e] : j.at("entries").items()) {
            TacticRecord r;
            r.tactic = e.at("tactic").get<std::string>();
            r.ms = e.value("ms", 0.0);
            r.candidates = e.value("candidates", 0);
            if (r.tactic.empty()) return invalidArgument(what + " is corrupt: entry '" + sig + "' has no tactic");
            cache.insert(sig, std::move(r));
        }
        return cache;
    } catch (const std::exception& e) {
        return invalidArgument(what + " is corrupt: " + e.what());
    }
}

LoadedTimingCache loadTimingCache(const std::string& path, const TimingEnvironment& env) {
    LoadedTimingCache out{TimingCache(env), {}, false};
    auto text = readText(path);
    if (!text) {
        out.note = text.status().message() + ": ignored, a new one will be written";
        out.corrupt = true;
        return out;
    }
    if (!text->has_value()) {
        out.note = "timing cache '" + path + "' does not exist yet: it will be written";
        return out;
    }
    auto parsed = TimingCache::parse(**text, path);
    if (!parsed) {
        out.note = parsed.status().message() + ": ignored, a new one will be written";
        out.corrupt = true;
        return out;
    }
    if (!(parsed->environment() == env)) {
        out.note = "timing cache '" + path + "' was written for " + parsed->environment().describe() + ", this is " +
                   env.describe() + ": ignored, it will be replaced";
        return out;
    }
    out.cache = std::move(parsed).value();
    return out;
}

Status saveTimingCache(const std::string& path, const TimingCache& cache) {
    TimingCache merged = cache;
    // Entries another build wrote since this one loaded the file are kept; a file of another environment, or one
    // that does not parse, is replaced.
    auto text = readText(path);
    if (text && text->has_value()) {
        auto onDisk = TimingCache::parse(**text, path);
        if (onDisk) merged.merge(*onDisk);
    }
    const std::string bytes = merged.serialize();
    return writeFileAtomically(path, [&](const WriteBytes& write) { return write(bytes.data(), bytes.size()); });
}

}  // namespace kiln::plan
