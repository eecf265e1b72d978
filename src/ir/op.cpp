#include "ir/op.h"

#include <array>

namespace kiln::ir {

namespace {

constexpr std::array<OpInfo, static_cast<size_t>(kOpCount)> kOpTable = {{
#define KILN_OP(name, domain, family) {OpKind::k##name, #name, domain, #family},
#include "ir/ops.def"
#undef KILN_OP
}};

constexpr bool tableMatchesEnum() {
    for (size_t i = 0; i < kOpTable.size(); ++i) {
        if (static_cast<size_t>(kOpTable[i].kind) != i) return false;
    }
    return true;
}
static_assert(tableMatchesEnum(), "op table rows must be in enum order");

}  // namespace

const OpInfo& opInfo(OpKind kind) noexcept { return kOpTable[static_cast<size_t>(kind)]; }

std::optional<OpKind> findOp(std::string_view domain, std::string_view opType) noexcept {
    if (domain == "ai.onnx") domain = "";
    for (const OpInfo& info : kOpTable) {
        if (info.name == opType && info.domain == domain) return info.kind;
    }
    return std::nullopt;
}

}  // namespace kiln::ir
