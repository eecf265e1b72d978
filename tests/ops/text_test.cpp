// StringNormalizer, TfIdfVectorizer and Cast/CastLike to and from strings.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "ops/elementwise_test_util.h"

namespace kiln::testing {
namespace {

Tensor stringTensor(const std::vector<std::string>& values, Shape shape) {
    Tensor t(DataType::kString, std::move(shape));
    for (size_t i = 0; i < values.size(); ++i) t.strings()[i] = values[i];
    return t;
}

void expectStrings(const Tensor& got, const Shape& shape, const std::vector<std::string>& want) {
    ASSERT_EQ(got.dtype(), DataType::kString);
    ASSERT_EQ(got.shape(), shape) << shapeToString(got.shape());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got.strings()[i], want[i]) << "element " << i;
}

ErrorCode errorOf(const OpTester& tester) {
    auto out = tester.run();
    EXPECT_FALSE(out.isOk());
    return out.isOk() ? ErrorCode::kOk : out.status().code();
}

// ---- StringNormalizer

TEST(StringNormalizer, StopwordsAndCase) {
    const Tensor x = stringTensor({"Monday", "tuesday", "monday", "Wednesday", "x"}, {5});
    // Case-sensitive: only the exact "monday" goes.
    expectStrings(runOk(OpTester("StringNormalizer", 10)
                            .input(x)
                            .attr("is_case_sensitive", int64_t{1})
                            .attr("stopwords", std::vector<std::string>{"monday"})
                            .attr("case_change_action", std::string("UPPER"))),
                  {4}, {"MONDAY", "TUESDAY", "WEDNESDAY", "X"});
    // Case-insensitive (the default): both Mondays go; LOWER.
    expectStrings(runOk(OpTester("StringNormalizer", 10)
                            .input(x)
                            .attr("stopwords", std::vector<std::string>{"MONDAY", "X"})
                            .attr("case_change_action", std::string("LOWER"))),
                  {2}, {"tuesday", "wednesday"});
    // No attributes: identity.
    expectStrings(runOk(OpTester("StringNormalizer", 10).input(x)), {5},
                  {"Monday", "tuesday", "monday", "Wednesday", "x"});
}

TEST(StringNormalizer, RowInputKeepsRankAndEmptyResult) {
    const Tensor row = stringTensor({"a", "B", "a"}, {1, 3});
    expectStrings(runOk(OpTester("StringNormalizer", 10)
                            .input(row)
                            .attr("stopwords", std::vector<std::string>{"b"})
                            .attr("case_change_action", std::string("UPPER"))),
                  {1, 2}, {"A", "A"});
    // Everything removed: one empty string, [1, 1] for a row and [1] for a vector (also for an empty input).
    const auto all = std::vector<std::string>{"a", "b"};
    expectStrings(runOk(OpTester("StringNormalizer", 10).input(row).attr("stopwords", all)), {1, 1}, {""});
    expectStrings(runOk(OpTester("StringNormalizer", 10).input(stringTensor({"A"}, {1})).attr("stopwords", all)), {1},
                  {""});
    expectStrings(runOk(OpTester("StringNormalizer", 10).input(Tensor(DataType::kString, {0}))), {1}, {""});
}

TEST(StringNormalizer, Utf8Letters) {
    const Tensor x = stringTensor({"Ça été straße", "Привет ёж", "ΣΟΦΟΣ ς", "ÿŸ Łódź"}, {4});
    expectStrings(runOk(OpTester("StringNormalizer", 10).input(x).attr("case_change_action", std::string("UPPER"))),
                  {4}, {"ÇA ÉTÉ STRAßE", "ПРИВЕТ ЁЖ", "ΣΟΦΟΣ Σ", "ŸŸ ŁÓDŹ"});
    expectStrings(runOk(OpTester("StringNormalizer", 10).input(x).attr("case_change_action", std::string("LOWER"))),
                  {4}, {"ça été straße", "привет ёж", "σοφοσ ς", "ÿÿ łódź"});
    // Case-insensitive stop words match across scripts; malformed UTF-8 passes through.
    const Tensor y = stringTensor({"ÉTÉ", "été", std::string("a\xC3"), "Ok"}, {4});
    expectStrings(runOk(OpTester("StringNormalizer", 10).input(y).attr("stopwords", std::vector<std::string>{"Été"})),
                  {2}, {std::string("a\xC3"), "Ok"});
}

TEST(StringNormalizer, LongInputAgainstNaiveLoop) {
    std::vector<std::string> words;
    for (int i = 0; i < 127; ++i) words.push_back((i % 3 == 0 ? "Stop" : "w") + std::to_string(i % 7));
    std::vector<std::string> want;
    for (const auto& w : words) {
        if (w == "Stop0" || w == "Stop3" || w == "Stop6") continue;  // "stop<d>" case-insensitively
        std::string up = w;
        for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        want.push_back(up);
    }
    expectStrings(runOk(OpTester("StringNormalizer", 10)
                            .input(stringTensor(words, {1, 127}))
                            .attr("stopwords", std::vector<std::string>{"stop0", "STOP3", "sToP6"})
                            .attr("case_change_action", std::string("UPPER"))),
                  {1, static_cast<int64_t>(want.size())}, want);
}

TEST(StringNormalizer, Errors) {
    const Tensor x = stringTensor({"a"}, {1});
    EXPECT_EQ(errorOf(OpTester("StringNormalizer", 10).input(Tensor::fromVector<float>({1.0f}))),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(OpTester("StringNormalizer", 10).input(Tensor(DataType::kString, {2, 3}))),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(OpTester("StringNormalizer", 10).input(Tensor(DataType::kString, {1, 1, 1}))),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(OpTester("StringNormalizer", 10).input(x).attr("case_change_action", std::string("TITLE"))),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(OpTester("StringNormalizer", 10)
                          .input(x)
                          .attr("case_change_action", std::string("UPPER"))
                          .attr("locale", std::string("tr_TR"))),
              ErrorCode::kUnsupported);
    // A locale that nothing uses is harmless.
    expectStrings(runOk(OpTester("StringNormalizer", 10).input(x).attr("locale", std::string("tr_TR"))), {1}, {"a"});
}

// ---- TfIdfVectorizer

struct TfIdfAttrs {
    std::string mode = "TF";
    int64_t minGram = 1;
    int64_t maxGram = 2;
    int64_t maxSkip = 0;
    std::vector<int64_t> counts;
    std::vector<int64_t> indexes;
    std::vector<int64_t> poolInts;
    std::vector<std::string> poolStrings;
    std::vector<float> weights;
};

OpTester tfidf(const TfIdfAttrs& a, Tensor x) {
    OpTester t("TfIdfVectorizer", 9);
    t.input(std::move(x))
        .attr("mode", a.mode)
        .attr("min_gram_length", a.minGram)
        .attr("max_gram_length", a.maxGram)
        .attr("max_skip_count", a.maxSkip)
        .attr("ngram_counts", a.counts)
        .attr("ngram_indexes", a.indexes);
    if (!a.poolInts.empty()) t.attr("pool_int64s", a.poolInts);
    if (!a.poolStrings.empty()) t.attr("pool_strings", a.poolStrings);
    if (!a.weights.empty()) t.attr("weights", a.weights);
    return t;
}

// ONNX's example pool: unigrams 2 3 5 4, bigrams (5,6) (7,8) (6,7).
TfIdfAttrs exampleAttrs() {
    TfIdfAttrs a;
    a.counts = {0, 4};
    a.indexes = {0, 1, 2, 3, 4, 5, 6};
    a.poolInts = {2, 3, 5, 4, 5, 6, 7, 8, 6, 7};
    return a;
}

TEST(TfIdfVectorizer, SpecExamples) {
    const std::vector<int64_t> seq = {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8};
    TfIdfAttrs a = exampleAttrs();
    a.minGram = 2;
    expectTensorEq(runOk(tfidf(a, Tensor::fromVector<int64_t>(seq))), Tensor::fromVector<float>({0, 0, 0, 0, 1, 1, 1}));
    a.maxSkip = 5;
    expectTensorEq(runOk(tfidf(a, Tensor::fromVector<int64_t>(seq))), Tensor::fromVector<float>({0, 0, 0, 0, 1, 3, 1}));
    // Unigrams are counted once, not once per skip distance.
    a.minGram = 1;
    std::vector<int32_t> seq32(seq.begin(), seq.end());
    expectTensorEq(runOk(tfidf(a, Tensor::fromVector<int32_t>(seq32))),
                   Tensor::fromVector<float>({0, 3, 1, 0, 1, 3, 1}));
    // Batched rows are independent.
    expectTensorEq(runOk(tfidf(a, Tensor::fromVector<int32_t>(seq32, {2, 6}))),
                   Tensor::fromVector<float>({0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1}, {2, 7}));
}

TEST(TfIdfVectorizer, StringPoolMatchesIntPool) {
    TfIdfAttrs a = exampleAttrs();
    a.maxSkip = 5;
    a.poolInts.clear();
    for (int64_t v : exampleAttrs().poolInts) a.poolStrings.push_back("w" + std::to_string(v));
    std::vector<std::string> seq;
    for (int v : {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8}) seq.push_back("w" + std::to_string(v));
    expectTensorEq(runOk(tfidf(a, stringTensor(seq, {12}))), Tensor::fromVector<float>({0, 3, 1, 0, 1, 3, 1}));
}

TEST(TfIdfVectorizer, WeightsFollowPoolOrder) {
    // Pool n-gram i goes to output ngram_indexes[i] with weights[i]; two n-grams share output 0.
    TfIdfAttrs a;
    a.minGram = 1;
    a.maxGram = 2;
    a.counts = {0, 3};
    a.poolInts = {1, 2, 3, 1, 2};  // unigrams 1 2 3, bigram (1,2)
    a.indexes = {2, 0, 1, 0};
    a.weights = {0.5f, 2.0f, 4.0f, 10.0f};
    const Tensor x = Tensor::fromVector<int64_t>({1, 2, 1, 2, 1, 9});  // 1: x3, 2: x2, 3: x0, (1,2): x2
    a.mode = "TF";
    expectTensorEq(runOk(tfidf(a, x)), Tensor::fromVector<float>({2 + 2, 0, 3}));
    a.mode = "IDF";
    expectTensorEq(runOk(tfidf(a, x)), Tensor::fromVector<float>({2.0f + 10.0f, 0, 0.5f}));
    a.mode = "TFIDF";
    expectTensorEq(runOk(tfidf(a, x)), Tensor::fromVector<float>({2 * 2.0f + 2 * 10.0f, 0, 3 * 0.5f}));
    a.weights.clear();
    a.mode = "IDF";
    expectTensorEq(runOk(tfidf(a, x)), Tensor::fromVector<float>({2, 0, 1}));
}

// Every pool n-gram counted directly: for each distance d and start s, does x[s], x[s+d], ... match it?
std::vector<float> naiveTfIdf(const std::vector<int64_t>& row, const std::vector<std::vector<int64_t>>& grams,
                              int64_t minGram, int64_t maxGram, int64_t maxSkip) {
    std::vector<float> out(grams.size());
    const auto c = static_cast<int64_t>(row.size());
    for (size_t g = 0; g < grams.size(); ++g) {
        const auto len = static_cast<int64_t>(grams[g].size());
        if (len < minGram || len > maxGram) continue;
        for (int64_t d = 1; d <= (len == 1 ? 1 : maxSkip + 1); ++d) {
            for (int64_t s = 0; s + (len - 1) * d < c; ++s) {
                bool match = true;
                for (int64_t k = 0; k < len; ++k) match = match && row[static_cast<size_t>(s + k * d)] == grams[g][k];
                if (match) out[g] += 1;
            }
        }
    }
    return out;
}

TEST(TfIdfVectorizer, RandomAgainstNaiveCount) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int64_t> tok(0, 3);
    // Pool: 3 of the 4 possible unigrams, then 6 distinct random bigrams and 6 trigrams.
    std::vector<std::vector<int64_t>> grams = {{0}, {2}, {3}};
    TfIdfAttrs a;
    a.poolInts = {0, 2, 3};
    a.counts = {0};
    for (int64_t len = 2; len <= 3; ++len) {
        a.counts.push_back(static_cast<int64_t>(a.poolInts.size()));
        std::set<std::vector<int64_t>> seen;
        while (seen.size() < 6) {
            std::vector<int64_t> g;
            for (int64_t k = 0; k < len; ++k) g.push_back(tok(rng));
            if (!seen.insert(g).second) continue;
            grams.push_back(g);
            a.poolInts.insert(a.poolInts.end(), g.begin(), g.end());
        }
    }
    for (size_t i = 0; i < grams.size(); ++i) a.indexes.push_back(static_cast<int64_t>(i));
    a.maxGram = 3;
    for (int64_t minGram : {1, 2, 3}) {
        for (int64_t maxSkip : {0, 2, 200}) {
            a.minGram = minGram;
            a.maxSkip = maxSkip;
            std::vector<int64_t> data(5 * 127);
            for (auto& v : data) v = tok(rng);
            std::vector<float> want;
            for (int r = 0; r < 5; ++r) {
                std::vector<int64_t> row(data.begin() + r * 127, data.begin() + (r + 1) * 127);
                auto w = naiveTfIdf(row, grams, minGram, 3, maxSkip);
                want.insert(want.end(), w.begin(), w.end());
            }
            SCOPED_TRACE("min " + std::to_string(minGram) + " skip " + std::to_string(maxSkip));
            expectTensorEq(runOk(tfidf(a, Tensor::fromVector<int64_t>(data, {5, 127}))),
                           Tensor::fromVector<float>(want, {5, static_cast<int64_t>(grams.size())}));
        }
    }
}

TEST(TfIdfVectorizer, EmptyInputs) {
    const TfIdfAttrs a = exampleAttrs();
    expectTensorEq(runOk(tfidf(a, Tensor(DataType::kInt64, {3, 0}))), Tensor(DataType::kFloat32, {3, 7}));
    expectTensorEq(runOk(tfidf(a, Tensor(DataType::kInt32, {0, 4}))), Tensor(DataType::kFloat32, {0, 7}));
    expectTensorEq(runOk(tfidf(a, Tensor(DataType::kInt32, {0}))), Tensor(DataType::kFloat32, {7}));
}

TEST(TfIdfVectorizer, Errors) {
    const Tensor x = Tensor::fromVector<int64_t>({1, 2});
    TfIdfAttrs a = exampleAttrs();
    EXPECT_EQ(errorOf(tfidf(a, Tensor::fromVector<float>({1.0f}))), ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(tfidf(a, stringTensor({"a"}, {1}))), ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(tfidf(a, Tensor(DataType::kInt64, {1, 1, 2}))), ErrorCode::kInvalidArgument);
    TfIdfAttrs b = a;
    b.mode = "BM25";
    EXPECT_EQ(errorOf(tfidf(b, x)), ErrorCode::kInvalidArgument);
    b = a;
    b.indexes.pop_back();  // 6 indexes for 7 n-grams
    EXPECT_EQ(errorOf(tfidf(b, x)), ErrorCode::kInvalidArgument);
    b = a;
    b.poolInts[1] = 2;  // duplicate unigram
    EXPECT_EQ(errorOf(tfidf(b, x)), ErrorCode::kInvalidArgument);
    b = a;
    b.counts = {0, 5};  // 5 bigram items
    EXPECT_EQ(errorOf(tfidf(b, x)), ErrorCode::kInvalidArgument);
    b = a;
    b.maxGram = 3;  // beyond ngram_counts
    EXPECT_EQ(errorOf(tfidf(b, x)), ErrorCode::kInvalidArgument);
    b = a;
    b.weights = {1.0f};
    EXPECT_EQ(errorOf(tfidf(b, x)), ErrorCode::kInvalidArgument);
    b = a;
    b.poolStrings = {"a"};  // both pools
    EXPECT_EQ(errorOf(tfidf(b, x)), ErrorCode::kInvalidArgument);
}

// ---- Cast with strings (expected text from numpy 1.24's str())

TEST(CastString, FloatToStringLikeNumpy) {
    const float inf = std::numeric_limits<float>::infinity();
    const Tensor f = Tensor::fromVector<float>(
        {0.0f, -0.0f, 1.0f, -2.5f, 1e-5f, 1.5e-5f, 1e16f, 1e15f, 123456789.0f, 1e-4f, 0.001f, 3.4028235e38f,
         1.401298464324817e-45f, 0.1f, 16777216.0f, std::nanf(""), inf, -inf, 9.999999e15f},
        {19});
    expectStrings(
        runOk(OpTester("Cast").input(f).attr("to", int64_t{8})), {19},
        {"0.0", "-0.0", "1.0", "-2.5", "1e-05", "1.5e-05", "1e+16", "1000000000000000.0", "123456790.0", "1e-04",
         "0.001", "3.4028235e+38", "1e-45", "0.1", "16777216.0", "nan", "inf", "-inf", "9999999000000000.0"});
    const Tensor d = Tensor::fromVector<double>({123456789.0, 1e-4, 1.401298464324817e-45, 1.0 / 3, 1e300}, {5});
    expectStrings(runOk(OpTester("Cast").input(d).attr("to", int64_t{8})), {5},
                  {"123456789.0", "0.0001", "1.401298464324817e-45", "0.3333333333333333", "1e+300"});
    Tensor h(DataType::kFloat16, {6});
    const float hv[] = {0.1f, 1.0f, 65504.0f, 6e-8f, 3.14159f, -1000.5f};
    for (int i = 0; i < 6; ++i) h.data<Half>()[i] = Half(hv[i]);
    expectStrings(runOk(OpTester("Cast").input(h).attr("to", int64_t{8})), {6},
                  {"0.1", "1.0", "65500.0", "6e-08", "3.14", "-1000.5"});
}

TEST(CastString, IntegersAndBoolToString) {
    const Tensor i8 = Tensor::fromVector<int8_t>({-128, 0, 7}, {3, 1});
    expectStrings(runOk(OpTester("Cast").input(i8).attr("to", int64_t{8})), {3, 1}, {"-128", "0", "7"});
    expectStrings(runOk(OpTester("Cast")
                            .input(Tensor::fromVector<uint64_t>({18446744073709551615ULL}, {1}))
                            .attr("to", int64_t{8})),
                  {1}, {"18446744073709551615"});
    expectStrings(
        runOk(
            OpTester("CastLike").input(Tensor::fromVector<bool>({true, false})).input(Tensor(DataType::kString, {1}))),
        {2}, {"True", "False"});
    expectStrings(runOk(OpTester("Cast").input(Tensor(DataType::kFloat32, {2, 0})).attr("to", int64_t{8})), {2, 0}, {});
}

TEST(CastString, StringToNumbers) {
    const Tensor s = stringTensor({"0.47892547", "1e-5", "1E8", "NaN", "INF", "+INF", "-inf", " 42 ", "-0"}, {3, 3});
    const float inf = std::numeric_limits<float>::infinity();
    expectTensorEq(
        runOk(OpTester("Cast").input(s).attr("to", int64_t{1})),
        Tensor::fromVector<float>({0.47892547f, 1e-5f, 1e8f, std::nanf(""), inf, inf, -inf, 42.0f, -0.0f}, {3, 3}));
    expectTensorEq(runOk(OpTester("CastLike").input(s).input(Tensor(DataType::kFloat64, {1}))),
                   Tensor::fromVector<double>(
                       {0.47892547, 1e-5, 1e8, std::nan(""), HUGE_VAL, HUGE_VAL, -HUGE_VAL, 42.0, -0.0}, {3, 3}));
    // Out of float range: inf and 0 as strtof; to half via the exact value.
    const Tensor extreme = stringTensor({"1e50", "-1e50", "1e-50", "0." + std::string(60, '0') + "1"}, {4});
    expectTensorEq(runOk(OpTester("Cast").input(extreme).attr("to", int64_t{1})),
                   Tensor::fromVector<float>({inf, -inf, 0.0f, 0.0f}));
    Tensor half = runOk(OpTester("Cast").input(stringTensor({"0.1", "65519", "65520"}, {3})).attr("to", int64_t{10}));
    EXPECT_EQ(half.getDouble(0), static_cast<double>(static_cast<float>(Half(0.1f))));
    EXPECT_EQ(half.getDouble(1), 65504.0);
    EXPECT_TRUE(std::isinf(half.getDouble(2)));
    // Integers: exact text, or decimal text truncated toward zero.
    const Tensor i = stringTensor({"100.5", "-7", "+3", "1e3", "-2.9"}, {5});
    expectTensorEq(runOk(OpTester("Cast").input(i).attr("to", int64_t{6})),
                   Tensor::fromVector<int32_t>({100, -7, 3, 1000, -2}));
    expectTensorEq(runOk(OpTester("Cast").input(stringTensor({"18446744073709551615"}, {1})).attr("to", int64_t{13})),
                   Tensor::fromVector<uint64_t>({18446744073709551615ULL}, {1}));
    const Tensor flags = stringTensor({"True", "false", "0", "2.5", "0.0"}, {5});
    expectTensorEq(runOk(OpTester("Cast").input(flags).attr("to", int64_t{9})),
                   Tensor::fromVector<bool>({true, false, false, true, false}));
}

TEST(CastString, RoundTripsEveryFloat32Pattern) {
    // Shortest text must read back to the same float: check a spread of bit patterns, denormals included.
    std::vector<float> values;
    for (uint32_t bits = 1; bits < 0x7F800000U; bits += 0x00012345U) {
        float f;
        std::memcpy(&f, &bits, 4);
        values.push_back(f);
        values.push_back(-f);
    }
    const Tensor x = Tensor::fromVector<float>(values);
    const Tensor text = runOk(OpTester("Cast").input(x).attr("to", int64_t{8}));
    expectTensorEq(runOk(OpTester("Cast").input(text).attr("to", int64_t{1})), x);
}

TEST(CastString, Errors) {
    EXPECT_EQ(errorOf(OpTester("Cast").input(stringTensor({"hello"}, {1})).attr("to", int64_t{1})),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(OpTester("Cast").input(stringTensor({""}, {1})).attr("to", int64_t{7})),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(OpTester("Cast").input(stringTensor({"300"}, {1})).attr("to", int64_t{3})),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(OpTester("Cast").input(stringTensor({"1e30"}, {1})).attr("to", int64_t{7})),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(errorOf(OpTester("Cast").input(stringTensor({"--1"}, {1})).attr("to", int64_t{11})),
              ErrorCode::kInvalidArgument);
    // string → string shares the input.
    expectStrings(runOk(OpTester("Cast").input(stringTensor({"x"}, {1})).attr("to", int64_t{8})), {1}, {"x"});
}

}  // namespace
}  // namespace kiln::testing
