// The BuilderConfig and OptimizationProfile implementations: what a config holds (flags, profiles, pins, the accuracy
// guard's target and calibration inputs) and its setters' checks. builder.cpp builds from it; the accuracy guard copies
// it.
#pragma once

#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kiln/kiln.h"
#include "passes/layer_precision.h"
#include "runtime/engine_impl.h"

namespace kiln::builder {

using runtime::ProfileShapes;

class ProfileImpl final : public OptimizationProfile {
public:
    Status setDimensions(const std::string& inputName, OptProfileSelector selector, const Shape& dims) override {
        for (int64_t d : dims) {
            KILN_CHECK_ARG(d >= 0,
                           "profile shape " + shapeToString(dims) + " for '" + inputName + "' has a negative dim");
        }
        auto& entry = shapes[inputName];
        for (size_t k = 0; k < 3; ++k) {
            if (k != static_cast<size_t>(selector) && set[inputName][k] && entry[k].size() != dims.size()) {
                return invalidArgument("profile shape " + shapeToString(dims) + " for '" + inputName +
                                       "' has another rank than its shape " + shapeToString(entry[k]));
            }
        }
        entry[static_cast<size_t>(selector)] = dims;
        set[inputName][static_cast<size_t>(selector)] = true;
        return Status::ok();
    }
    Result<Shape> getDimensions(const std::string& inputName, OptProfileSelector selector) const override {
        auto it = set.find(inputName);
        if (it == set.end() || !it->second[static_cast<size_t>(selector)]) {
            return notFound("the profile sets no such shape for '" + inputName + "'");
        }
        return shapes.at(inputName)[static_cast<size_t>(selector)];
    }
    ProfileShapes shapes;
    std::map<std::string, std::array<bool, 3>> set;
};

class ConfigImpl final : public BuilderConfig {
public:
    void setFlag(BuilderFlag flag) noexcept override { flags.insert(flag); }
    void clearFlag(BuilderFlag flag) noexcept override { flags.erase(flag); }
    bool getFlag(BuilderFlag flag) const noexcept override { return flags.count(flag) != 0; }
    void setMemoryPoolLimit(size_t bytes) noexcept override { workspace = bytes; }
    size_t getMemoryPoolLimit() const noexcept override { return workspace; }
    Status addOptimizationProfile(const OptimizationProfile& profile) override {
        const auto* p = dynamic_cast<const ProfileImpl*>(&profile);
        if (p == nullptr) return invalidArgument("the profile was not created by Builder::createOptimizationProfile");
        for (const auto& [name, s] : p->shapes) {
            const auto& which = p->set.at(name);
            if (!which[0] || !which[1] || !which[2]) {
                return invalidArgument("profile input '" + name + "' needs all of kMIN, kOPT and kMAX");
            }
            for (size_t i = 0; i < s[0].size(); ++i) {
                if (!(s[0][i] <= s[1][i] && s[1][i] <= s[2][i])) {
                    return invalidArgument("profile input '" + name + "': min " + shapeToString(s[0]) + " <= opt " +
                                           shapeToString(s[1]) + " <= max " + shapeToString(s[2]) +
                                           " does not hold in dim " + std::to_string(i));
                }
            }
        }
        profiles.push_back(p->shapes);
        return Status::ok();
    }
    int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(profiles.size()); }
    Status setOptimizationLevel(int32_t level) override {
        if (level < 0 || level > 5)
            return outOfRange("optimization level " + std::to_string(level) + " is not in 0..5");
        optLevel = level;
        return Status::ok();
    }
    int32_t getOptimizationLevel() const noexcept override { return optLevel; }
    void setTimingCachePath(const std::string& path) override { timingCache = path; }
    void setBackend(Backend b) noexcept override { backend = b; }
    Backend getBackend() const noexcept override { return backend; }
    Status setDevice(int32_t d) override {
        if (d < 0) return outOfRange("device index " + std::to_string(d) + " is negative");
        device = d;
        return Status::ok();
    }
    int32_t getDevice() const noexcept override { return device; }
    Status setLayerPrecision(const std::string& pattern, DataType precision) override {
        if (pattern.empty()) return invalidArgument("a layer precision override needs a node name or pattern");
        if (precision != DataType::kFloat32 && precision != DataType::kFloat16 && precision != DataType::kBFloat16) {
            return invalidArgument("layer precision override '" + pattern + "': " + dataTypeName(precision) +
                                   " is not a layer precision (float32, float16 or bfloat16)");
        }
        layerPrecisions.push_back({pattern, precision});
        return Status::ok();
    }
    std::vector<std::pair<std::string, DataType>> getLayerPrecisions() const override {
        std::vector<std::pair<std::string, DataType>> out;
        for (const auto& o : layerPrecisions) out.emplace_back(o.pattern, o.dtype);
        return out;
    }
    void clearLayerPrecisions() noexcept override { layerPrecisions.clear(); }
    Status setAccuracyTarget(double maxRelativeError, bool strict) override {
        if (!(maxRelativeError >= 0) || !std::isfinite(maxRelativeError)) {
            return invalidArgument("accuracy target " + std::to_string(maxRelativeError) +
                                   " is not a finite relative error >= 0 (0 turns the guard off)");
        }
        accuracyTarget = maxRelativeError;
        accuracyStrict = strict;
        return Status::ok();
    }
    double getAccuracyTarget() const noexcept override { return accuracyTarget; }
    bool getAccuracyStrict() const noexcept override { return accuracyStrict; }
    void setCalibrationInputs(std::vector<std::map<std::string, Tensor>> samples) override {
        calibration = std::move(samples);
    }
    const std::vector<std::map<std::string, Tensor>>& getCalibrationInputs() const noexcept override {
        return calibration;
    }
    //! "prefer" only when asked and obey is not also set (TensorRT: obey wins).
    bool preferPins() const {
        return getFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS) &&
               !getFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
    }

    //! A copy with everything but the accuracy guard (no target, no calibration inputs): what the guard builds with.
    std::unique_ptr<ConfigImpl> copyWithoutGuard() const {
        auto copy = std::make_unique<ConfigImpl>();
        copy->flags = flags;
        copy->workspace = workspace;
        copy->profiles = profiles;
        copy->optLevel = optLevel;
        copy->timingCache = timingCache;
        copy->backend = backend;
        copy->device = device;
        copy->layerPrecisions = layerPrecisions;
        return copy;
    }

    std::set<BuilderFlag> flags{BuilderFlag::kTF32};  // TF32 on by default, as in TensorRT
    size_t workspace = 0;
    std::vector<ProfileShapes> profiles;
    int32_t optLevel = 3;
    std::string timingCache;
    Backend backend = Backend::kAuto;
    int32_t device = 0;
    std::vector<passes::LayerPrecision> layerPrecisions;
    double accuracyTarget = 0;
    bool accuracyStrict = false;
    std::vector<std::map<std::string, Tensor>> calibration;
};

}  // namespace kiln::builder
