#include "shapes.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "passes/layer_precision.h"

namespace kiln::cli {

namespace {

Status bad(const std::string& flag, const std::string& text, const std::string& why) {
    return invalidArgument(flag + " '" + text + "': " + why);
}

//! Splits at `sep` outside single quotes.
std::vector<std::string> splitOutsideQuotes(const std::string& text, char sep) {
    std::vector<std::string> parts(1);
    bool quoted = false;
    for (char c : text) {
        if (c == '\'') quoted = !quoted;
        if (c == sep && !quoted) {
            parts.emplace_back();
        } else {
            parts.back() += c;
        }
    }
    return parts;
}

//! "name:rest" → {name, rest}: the last ':' outside quotes separates; quotes around the name are removed.
//! `format` shows the expected form, `parts` says what goes on each side of the colon.
Result<std::pair<std::string, std::string>> splitName(const std::string& item, const std::string& flag,
                                                      const std::string& format,
                                                      const std::string& parts =
                                                          "the tensor name, a colon, then "
                                                          "the shape") {
    size_t colon = std::string::npos;
    bool quoted = false;
    for (size_t i = 0; i < item.size(); ++i) {
        if (item[i] == '\'') quoted = !quoted;
        if (item[i] == ':' && !quoted) colon = i;
    }
    if (colon == std::string::npos || colon == 0) {
        return bad(flag, item, "expected " + format + " (" + parts + ")");
    }
    std::string name = item.substr(0, colon);
    if (name.size() >= 2 && name.front() == '\'' && name.back() == '\'') name = name.substr(1, name.size() - 2);
    return std::make_pair(name, item.substr(colon + 1));
}

//! parseDims, with errors quoting `shown` (the whole item the dims came from).
Result<Shape> parseDimsOf(const std::string& text, const std::string& flag, const std::string& shown) {
    Shape shape;
    if (text.empty() || text == "scalar") return shape;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t x = text.find('x', start);
        const std::string dim = text.substr(start, x == std::string::npos ? std::string::npos : x - start);
        int64_t value = 0;
        const auto [end, ec] = std::from_chars(dim.data(), dim.data() + dim.size(), value);
        if (dim.empty() || ec != std::errc() || end != dim.data() + dim.size() || value < 0) {
            return bad(flag, shown, "'" + dim + "' is not a dimension (shapes are written like 1x3x224x224)");
        }
        shape.push_back(value);
        if (x == std::string::npos) break;
        start = x + 1;
    }
    return shape;
}

}  // namespace

std::vector<std::string> splitList(const std::string& text, char separator) {
    std::vector<std::string> parts(1);
    for (char c : text) {
        if (c == separator) {
            parts.emplace_back();
        } else {
            parts.back() += c;
        }
    }
    return parts;
}

Result<Shape> parseDims(const std::string& text, const std::string& flag) { return parseDimsOf(text, flag, text); }

Result<std::vector<std::pair<std::string, Shape>>> parseShapeList(const std::string& text, const std::string& flag) {
    std::vector<std::pair<std::string, Shape>> out;
    std::set<std::string> seen;
    for (const std::string& item : splitOutsideQuotes(text, ',')) {
        KILN_ASSIGN_OR_RETURN(auto parts, splitName(item, flag, "name:1x3x224x224"));
        KILN_ASSIGN_OR_RETURN(Shape dims, parseDimsOf(parts.second, flag, item));
        if (!seen.insert(parts.first).second) return bad(flag, text, "'" + parts.first + "' is given twice");
        out.emplace_back(parts.first, std::move(dims));
    }
    return out;
}

Result<std::map<std::string, Shape>> parseShapeMap(const std::string& text, const std::string& flag) {
    std::map<std::string, Shape> out;
    if (text.empty()) return out;
    KILN_ASSIGN_OR_RETURN(auto list, parseShapeList(text, flag));
    for (auto& [name, shape] : list) out[name] = std::move(shape);
    return out;
}

Result<std::vector<std::pair<std::string, ShapeRange>>> parseProfile(const std::string& text, const std::string& flag) {
    std::vector<std::pair<std::string, ShapeRange>> out;
    std::set<std::string> seen;
    for (const std::string& item : splitOutsideQuotes(text, ',')) {
        KILN_ASSIGN_OR_RETURN(auto parts, splitName(item, flag, "name:MIN/OPT/MAX"));
        std::vector<Shape> shapes;
        for (const std::string& s : splitOutsideQuotes(parts.second, '/')) {
            KILN_ASSIGN_OR_RETURN(Shape dims, parseDimsOf(s, flag, item));
            shapes.push_back(std::move(dims));
        }
        if (shapes.size() != 1 && shapes.size() != 3) {
            return bad(flag, item, "give one shape or three (min/opt/max), not " + std::to_string(shapes.size()));
        }
        if (shapes.size() == 1) shapes = {shapes[0], shapes[0], shapes[0]};
        if (!seen.insert(parts.first).second) return bad(flag, text, "'" + parts.first + "' is given twice");
        out.emplace_back(parts.first, ShapeRange{shapes[0], shapes[1], shapes[2]});
    }
    return out;
}

Result<std::vector<std::pair<std::string, DataType>>> parseLayerPrecisions(const std::string& text,
                                                                           const std::string& flag) {
    std::vector<std::pair<std::string, DataType>> out;
    for (const std::string& item : splitOutsideQuotes(text, ',')) {
        KILN_ASSIGN_OR_RETURN(auto parts, splitName(item, flag, "name:fp32",
                                                    "a node name or pattern, a colon, then "
                                                    "fp32, fp16 or bf16"));
        const auto dtype = passes::parsePrecisionName(parts.second);
        if (!dtype) {
            return bad(flag, item, "'" + parts.second + "' is not a layer precision (fp32, fp16 or bf16)");
        }
        out.emplace_back(parts.first, *dtype);
    }
    return out;
}

Result<size_t> parseByteSize(const std::string& text, const std::string& flag, size_t plainUnit) {
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    const std::string number = text.substr(0, i);
    std::string unit = text.substr(i);
    while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size()) {
        return bad(flag, text, "not a size (write e.g. 1GiB, 512MiB, 64KiB or a number of bytes)");
    }
    struct Unit {
        const char* name;
        double bytes;
    };
    static const Unit kUnits[] = {{"B", 1},
                                  {"K", 1024.0},
                                  {"KiB", 1024.0},
                                  {"KB", 1e3},
                                  {"M", 1024.0 * 1024},
                                  {"MiB", 1024.0 * 1024},
                                  {"MB", 1e6},
                                  {"G", 1024.0 * 1024 * 1024},
                                  {"GiB", 1024.0 * 1024 * 1024},
                                  {"GB", 1e9},
                                  {"T", 1024.0 * 1024 * 1024 * 1024},
                                  {"TiB", 1024.0 * 1024 * 1024 * 1024},
                                  {"TB", 1e12}};
    double scale = unit.empty() ? static_cast<double>(plainUnit) : 0;
    for (const Unit& u : kUnits) {
        if (unit == u.name) scale = u.bytes;
    }
    if (scale == 0) {
        return bad(flag, text, "unknown unit '" + unit + "' (use B, KiB, MiB, GiB, TiB or KB, MB, GB, TB)");
    }
    const double bytes = std::round(value * scale);
    if (bytes > static_cast<double>(std::numeric_limits<size_t>::max() / 2)) return bad(flag, text, "too large");
    return static_cast<size_t>(bytes);
}

std::string formatBytes(size_t bytes) {
    static const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(kNames)) {
        value /= 1024;
        ++unit;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.2f %s", value, kNames[unit]);
    return buf;
}

}  // namespace kiln::cli
