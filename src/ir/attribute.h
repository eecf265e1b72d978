// Typed node attributes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::ir {

class Graph;

using AttributeValue =
    std::variant<int64_t, float, std::string, Tensor, std::shared_ptr<Graph>, std::vector<int64_t>, std::vector<float>,
                 std::vector<std::string>, std::vector<Tensor>, std::vector<std::shared_ptr<Graph>>>;

//! A node's attributes by name. Getters return the default (or nullopt) when absent and never throw; a present
//! attribute of the wrong type is reported by `typeError`.
class Attributes {
public:
    void set(const std::string& name, AttributeValue value) { mValues[name] = std::move(value); }
    bool has(const std::string& name) const { return mValues.count(name) != 0; }
    void erase(const std::string& name) { mValues.erase(name); }
    const std::map<std::string, AttributeValue>& all() const { return mValues; }

    int64_t getInt(const std::string& name, int64_t fallback) const { return get<int64_t>(name).value_or(fallback); }
    float getFloat(const std::string& name, float fallback) const { return get<float>(name).value_or(fallback); }
    std::string getString(const std::string& name, const std::string& fallback = {}) const {
        return get<std::string>(name).value_or(fallback);
    }
    std::optional<std::vector<int64_t>> getInts(const std::string& name) const {
        return get<std::vector<int64_t>>(name);
    }
    std::optional<std::vector<float>> getFloats(const std::string& name) const { return get<std::vector<float>>(name); }
    std::optional<std::vector<std::string>> getStrings(const std::string& name) const {
        return get<std::vector<std::string>>(name);
    }
    std::optional<Tensor> getTensor(const std::string& name) const { return get<Tensor>(name); }
    std::shared_ptr<Graph> getGraph(const std::string& name) const {
        auto g = get<std::shared_ptr<Graph>>(name);
        return g ? *g : nullptr;
    }

    template <typename T>
    std::optional<T> get(const std::string& name) const {
        auto it = mValues.find(name);
        if (it == mValues.end()) return std::nullopt;
        if (const T* v = std::get_if<T>(&it->second)) return *v;
        return std::nullopt;
    }

private:
    std::map<std::string, AttributeValue> mValues;
};

}  // namespace kiln::ir
