// OpKind and the op table (ops.def).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln::ir {

enum class OpKind : int32_t {
#define KILN_OP(name, domain, family) k##name,
#include "ir/ops.def"
#undef KILN_OP
    kCount
};

inline constexpr int32_t kOpCount = static_cast<int32_t>(OpKind::kCount);

struct OpInfo {
    OpKind kind;
    std::string_view name;    //!< ONNX op type.
    std::string_view domain;  //!< "" for ai.onnx.
    std::string_view family;  //!< Kernel family (file under backends/cpu/kernels/).
};

//! Row of the op table.
const OpInfo& opInfo(OpKind kind) noexcept;
//! Looks up (domain, op type); "ai.onnx" and "" are the same domain.
std::optional<OpKind> findOp(std::string_view domain, std::string_view opType) noexcept;
inline std::string_view opName(OpKind kind) noexcept { return opInfo(kind).name; }

}  // namespace kiln::ir
