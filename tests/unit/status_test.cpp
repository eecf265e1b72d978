#include <gtest/gtest.h>

#include "kiln/status.h"

namespace kiln {
namespace {

Result<int> half(int x) {
    if (x % 2) return invalidArgument("odd value " + std::to_string(x));
    return x / 2;
}

Status useHalf(int x, int* out) {
    KILN_ASSIGN_OR_RETURN(*out, half(x));
    return Status::ok();
}

TEST(Status, OkIsEmpty) {
    Status s;
    EXPECT_TRUE(s.isOk());
    EXPECT_EQ(s.code(), ErrorCode::kOk);
    EXPECT_TRUE(s.message().empty());
}

TEST(Status, ErrorCarriesCodeAndContext) {
    Status s = invalidModel("bad").withContext("node 3 (Add 'a')");
    EXPECT_EQ(s.code(), ErrorCode::kInvalidModel);
    EXPECT_EQ(s.message(), "node 3 (Add 'a'): bad");
}

TEST(Result, PropagatesThroughMacros) {
    int v = 0;
    EXPECT_TRUE(useHalf(8, &v).isOk());
    EXPECT_EQ(v, 4);
    Status s = useHalf(7, &v);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "odd value 7");
}

}  // namespace
}  // namespace kiln
