// Text ops: StringNormalizer (stop-word removal and case change on string tensors) and TfIdfVectorizer (n-gram
// counting over int or string token rows).
#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

namespace {

// ---- StringNormalizer

//! Simple (one-to-one) case mapping of a code point for ASCII, Latin-1, Latin Extended-A, basic Greek and
//! Cyrillic: what en_US does for those scripts, minus the special cases that change length (ß, ŉ) or depend on
//! the language (dotted/dotless i). Everything else maps to itself.
uint32_t mapCase(uint32_t c, bool upper) {
    auto shift = [&](uint32_t lo, uint32_t hi, uint32_t delta) -> bool {
        if (upper && c >= lo + delta && c <= hi + delta) {
            c -= delta;
            return true;
        }
        if (!upper && c >= lo && c <= hi) {
            c += delta;
            return true;
        }
        return false;
    };
    // Ranges of upper-case letters [lo, hi] whose lower case is at +delta.
    if (c < 0x80) {
        shift('A', 'Z', 0x20);
    } else if (c < 0x100) {
        if (c == 0xD7 || c == 0xF7) return c;  // × and ÷
        if (upper && c == 0xFF) return 0x178;  // ÿ → Ÿ
        shift(0xC0, 0xDE, 0x20);
    } else if (c < 0x180) {
        if (c == 0x178) return upper ? c : 0xFF;
        if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
        // Upper/lower pairs: even/odd in [0x100, 0x137] and [0x14A, 0x177], odd/even in [0x139, 0x148] and
        // [0x179, 0x17E].
        const bool evenUpper = c < 0x138 || (c >= 0x14A && c < 0x178);
        const bool isUpper = (c % 2 == 0) == evenUpper;
        if (upper && !isUpper) return c - 1;
        if (!upper && isUpper) return c + 1;
    } else if (c >= 0x391 && c <= 0x3C9) {
        if (c == 0x3A2) return c;
        if (upper && c == 0x3C2) return 0x3A3;  // final sigma
        shift(0x391, 0x3A9, 0x20);
    } else if (c >= 0x400 && c <= 0x45F) {
        if (!shift(0x410, 0x42F, 0x20)) shift(0x400, 0x40F, 0x50);
    }
    return c;
}

//! Case-maps UTF-8 text. Every mapped code point is below U+0800, so only ASCII bytes and two-byte sequences can
//! change (and keep their length); other bytes, including malformed UTF-8, are copied unchanged.
std::string changeCase(const std::string& s, bool upper) {
    std::string out = s;
    for (size_t i = 0; i < out.size(); ++i) {
        const auto b0 = static_cast<unsigned char>(out[i]);
        if (b0 < 0x80) {
            out[i] = static_cast<char>(mapCase(b0, upper));
        } else if (b0 >= 0xC2 && b0 <= 0xDF && i + 1 < out.size() &&
                   (static_cast<unsigned char>(out[i + 1]) & 0xC0) == 0x80) {
            const uint32_t c = ((b0 & 0x1FU) << 6) | (static_cast<unsigned char>(out[i + 1]) & 0x3FU);
            const uint32_t m = mapCase(c, upper);
            out[i] = static_cast<char>(0xC0 | (m >> 6));
            out[i + 1] = static_cast<char>(0x80 | (m & 0x3F));
            ++i;
        }
    }
    return out;
}

// ---- TfIdfVectorizer

enum class TfIdfMode { kTf, kIdf, kTfIdf };

//! The attributes of a TfIdfVectorizer node, validated. Pool n-grams are sequences of token ids: the int64 values
//! themselves, or for string pools the index of each distinct pool string.
struct TfIdfConfig {
    TfIdfMode mode = TfIdfMode::kTf;
    int64_t minGram = 0;
    int64_t maxGram = 0;
    int64_t maxSkip = 0;
    std::vector<int64_t> ngramIndexes;  //!< Output coordinate of each pool n-gram.
    std::vector<float> weights;         //!< Weight of each pool n-gram (empty: all 1).
    int64_t outputSize = 0;
    bool stringPool = false;
    std::unordered_map<std::string, int64_t> vocabulary;  //!< String pools: string → token id.
    std::map<std::vector<int64_t>, int64_t> pool;         //!< n-gram (of a length in [minGram, maxGram]) → index.
};

Result<TfIdfConfig> readTfIdfConfig(const ir::Attributes& attrs) {
    TfIdfConfig cfg;
    const std::string mode = attrs.getString("mode");
    if (mode == "TF") {
        cfg.mode = TfIdfMode::kTf;
    } else if (mode == "IDF") {
        cfg.mode = TfIdfMode::kIdf;
    } else if (mode == "TFIDF") {
        cfg.mode = TfIdfMode::kTfIdf;
    } else {
        return invalidArgument("attribute 'mode' must be TF, IDF or TFIDF, got '" + mode + "'");
    }
    for (const char* name : {"min_gram_length", "max_gram_length", "max_skip_count"}) {
        if (!attrs.has(name)) return invalidArgument(std::string("attribute '") + name + "' is required");
    }
    cfg.minGram = attrs.getInt("min_gram_length", 0);
    cfg.maxGram = attrs.getInt("max_gram_length", 0);
    cfg.maxSkip = attrs.getInt("max_skip_count", 0);
    if (cfg.minGram < 1) return invalidArgument("attribute 'min_gram_length' must be >= 1");
    if (cfg.maxGram < cfg.minGram) return invalidArgument("attribute 'max_gram_length' must be >= min_gram_length");
    if (cfg.maxSkip < 0) return invalidArgument("attribute 'max_skip_count' must be >= 0");

    const std::vector<int64_t> counts = attrs.getInts("ngram_counts").value_or(std::vector<int64_t>{});
    if (counts.empty()) return invalidArgument("attribute 'ngram_counts' is required and must not be empty");
    if (cfg.maxGram > static_cast<int64_t>(counts.size())) {
        return invalidArgument("attribute 'max_gram_length' (" + std::to_string(cfg.maxGram) +
                               ") exceeds the n-gram lengths in 'ngram_counts' (" + std::to_string(counts.size()) +
                               ")");
    }
    cfg.ngramIndexes = attrs.getInts("ngram_indexes").value_or(std::vector<int64_t>{});
    if (cfg.ngramIndexes.empty()) return invalidArgument("attribute 'ngram_indexes' is required and must not be empty");
    for (int64_t idx : cfg.ngramIndexes) {
        if (idx < 0) return invalidArgument("attribute 'ngram_indexes' has a negative value " + std::to_string(idx));
    }
    cfg.outputSize = *std::max_element(cfg.ngramIndexes.begin(), cfg.ngramIndexes.end()) + 1;
    if (auto w = attrs.getFloats("weights")) {
        cfg.weights = *w;
        if (!cfg.weights.empty() && cfg.weights.size() != cfg.ngramIndexes.size()) {
            return invalidArgument("attribute 'weights' has " + std::to_string(cfg.weights.size()) +
                                   " values but 'ngram_indexes' has " + std::to_string(cfg.ngramIndexes.size()));
        }
    }

    // Both pools as token ids.
    const auto poolStrings = attrs.getStrings("pool_strings");
    const auto poolInts = attrs.getInts("pool_int64s");
    const bool hasStrings = poolStrings && !poolStrings->empty();
    const bool hasInts = poolInts && !poolInts->empty();
    if (hasStrings == hasInts) {
        return invalidArgument("exactly one of the attributes 'pool_strings' and 'pool_int64s' must be non-empty");
    }
    cfg.stringPool = hasStrings;
    std::vector<int64_t> tokens;
    if (hasStrings) {
        for (const std::string& s : *poolStrings) {
            auto [it, inserted] = cfg.vocabulary.emplace(s, static_cast<int64_t>(cfg.vocabulary.size()));
            tokens.push_back(it->second);
        }
    } else {
        tokens = *poolInts;
    }

    // ngram_counts[k] is where the (k+1)-grams start in the pool (CSR style); n-gram ids run over all lengths.
    const auto total = static_cast<int64_t>(tokens.size());
    int64_t ngramId = 0;
    for (size_t k = 0; k < counts.size(); ++k) {
        const auto length = static_cast<int64_t>(k) + 1;
        const int64_t begin = counts[k];
        const int64_t end = k + 1 < counts.size() ? counts[k + 1] : total;
        if (begin < 0 || end < begin || end > total) {
            return invalidArgument("attribute 'ngram_counts' entry " + std::to_string(k) + " (" +
                                   std::to_string(begin) + ") is out of order or outside the pool of " +
                                   std::to_string(total) + " items");
        }
        if ((end - begin) % length != 0) {
            return invalidArgument("the pool's " + std::to_string(length) + "-gram section has " +
                                   std::to_string(end - begin) + " items, not a multiple of " + std::to_string(length));
        }
        for (int64_t at = begin; at < end; at += length, ++ngramId) {
            if (length < cfg.minGram || length > cfg.maxGram) continue;  // never counted; keeps its id
            std::vector<int64_t> key(tokens.begin() + at, tokens.begin() + at + length);
            if (!cfg.pool.emplace(std::move(key), ngramId).second) {
                return invalidArgument("the pool has a duplicate " + std::to_string(length) + "-gram (n-gram " +
                                       std::to_string(ngramId) + ")");
            }
        }
    }
    if (ngramId != static_cast<int64_t>(cfg.ngramIndexes.size())) {
        return invalidArgument("attribute 'ngram_indexes' has " + std::to_string(cfg.ngramIndexes.size()) +
                               " values but the pool holds " + std::to_string(ngramId) + " n-grams");
    }
    return cfg;
}

//! Adds the number of occurrences of each pool n-gram in `row` to `counts`. n-grams take every `distance`-th
//! token for each distance 1..max_skip_count+1; 1-grams are the same for every distance and counted once.
void countNgrams(const TfIdfConfig& cfg, const std::vector<int64_t>& row, std::vector<int64_t>& counts) {
    const auto c = static_cast<int64_t>(row.size());
    auto record = [&](const std::vector<int64_t>& key) {
        auto it = cfg.pool.find(key);
        if (it != cfg.pool.end()) ++counts[static_cast<size_t>(it->second)];
    };
    std::vector<int64_t> key;
    int64_t startLength = cfg.minGram;
    if (startLength == 1) {
        for (int64_t t : row) {
            key.assign(1, t);
            record(key);
        }
        if (++startLength > cfg.maxGram) return;
    }
    for (int64_t distance = 1; distance <= cfg.maxSkip + 1; ++distance) {
        // The shortest counted n-gram no longer fits from the first token: it fits for no larger distance either.
        if (distance * (startLength - 1) >= c) break;
        for (int64_t start = 0; start + distance * (startLength - 1) < c; ++start) {
            key.clear();
            for (int64_t length = 1, at = start; length <= cfg.maxGram && at < c; ++length, at += distance) {
                key.push_back(row[static_cast<size_t>(at)]);
                if (length >= startLength) record(key);
            }
        }
    }
}

}  // namespace

Status kernelStringNormalizer(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DataType::kString) {
        return invalidArgument(std::string("input 0 'X' must be a string tensor, got ") + dataTypeName(x.dtype()));
    }
    if (!(x.rank() == 1 || (x.rank() == 2 && x.dim(0) == 1))) {
        return invalidArgument("input 0 'X' must have shape [C] or [1, C], got " + shapeToString(x.shape()));
    }
    const std::string action = ctx.attrs().getString("case_change_action", "NONE");
    if (action != "NONE" && action != "LOWER" && action != "UPPER") {
        return invalidArgument("attribute 'case_change_action' must be LOWER, UPPER or NONE, got '" + action + "'");
    }
    const bool caseSensitive = ctx.attrs().getInt("is_case_sensitive", 0) != 0;
    const std::vector<std::string> stopwords = ctx.attrs().getStrings("stopwords").value_or(std::vector<std::string>{});
    const std::string locale = ctx.attrs().getString("locale");
    const bool usesLocale = action != "NONE" || (!caseSensitive && !stopwords.empty());
    if (usesLocale && !(locale.empty() || locale == "en_US" || locale == "en_US.UTF-8" || locale == "en_US.utf8")) {
        return unsupported("attribute 'locale' = '" + locale + "' is not supported (only en_US)");
    }

    // Case-insensitive matching compares lower-cased forms.
    std::set<std::string> stops;
    for (const std::string& w : stopwords) stops.insert(caseSensitive ? w : changeCase(w, false));
    std::vector<std::string> kept;
    for (int64_t i = 0; i < x.numel(); ++i) {
        const std::string& s = x.strings()[i];
        if (stops.count(caseSensitive ? s : changeCase(s, false)) != 0) continue;
        kept.push_back(action == "NONE" ? s : changeCase(s, action == "UPPER"));
    }
    // All dropped: one empty string, keeping the rank (the spec's [1] / [1, 1]).
    if (kept.empty()) kept.emplace_back();
    const auto n = static_cast<int64_t>(kept.size());
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kString, x.rank() == 1 ? Shape{n} : Shape{1, n}));
    std::move(kept.begin(), kept.end(), y->strings());
    return Status::ok();
}

Status kernelTfIdfVectorizer(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(TfIdfConfig cfg, readTfIdfConfig(ctx.attrs()));
    const DataType dt = x.dtype();
    if (cfg.stringPool ? dt != DataType::kString : (dt != DataType::kInt32 && dt != DataType::kInt64)) {
        const char* want = cfg.stringPool ? "string (pool_strings is set)" : "int32 or int64 (pool_int64s is set)";
        return invalidArgument(std::string("input 0 'X' must be ") + want + ", got " + dataTypeName(dt));
    }
    if (x.rank() != 1 && x.rank() != 2) {
        return invalidArgument("input 0 'X' must have shape [C] or [N, C], got " + shapeToString(x.shape()));
    }
    const int64_t rows = x.rank() == 2 ? x.dim(0) : 1;
    const int64_t cols = x.dim(-1);
    const Shape outShape = x.rank() == 2 ? Shape{rows, cfg.outputSize} : Shape{cfg.outputSize};
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kFloat32, outShape));
    float* out = y->data<float>();

    std::vector<int64_t> row(static_cast<size_t>(cols));
    std::vector<int64_t> counts(cfg.ngramIndexes.size());
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < cols; ++j) {
            const int64_t i = r * cols + j;
            if (dt == DataType::kString) {
                auto it = cfg.vocabulary.find(x.strings()[i]);
                row[static_cast<size_t>(j)] = it == cfg.vocabulary.end() ? -1 : it->second;  // -1: in no n-gram
            } else {
                row[static_cast<size_t>(j)] = dt == DataType::kInt32 ? x.data<int32_t>()[i] : x.data<int64_t>()[i];
            }
        }
        std::fill(counts.begin(), counts.end(), 0);
        countNgrams(cfg, row, counts);
        // Y[ngram_indexes[i]] gets the i-th pool n-gram's count, scaled by its weight (IDF: presence, not count).
        float* outRow = out + r * cfg.outputSize;
        for (size_t i = 0; i < counts.size(); ++i) {
            if (counts[i] == 0) continue;
            const float weight = cfg.weights.empty() || cfg.mode == TfIdfMode::kTf ? 1.0F : cfg.weights[i];
            const float tf = cfg.mode == TfIdfMode::kIdf ? 1.0F : static_cast<float>(counts[i]);
            outRow[cfg.ngramIndexes[i]] += tf * weight;
        }
    }
    return Status::ok();
}

}  // namespace kiln::cpu
