// The per-op rules of Kiln's symbolic shape inference (the "shape-inference" pass, src/passes/shape_inference.cpp).
//
// A rule maps what is known of a node's inputs to what is known of its outputs: the shape (a rank with dims that
// are static, symbolic or unknown, or no rank at all) and, for the small integer tensors that exporters build
// shapes from (Shape → Gather → Unsqueeze → Concat → Reshape), the elements themselves, each a value, a symbolic
// dim or unknown. That element-level propagation is what ONNX calls data propagation; ONNX 1.12's rules stop at a
// Slice with computed ends and at a Reshape with a computed target, and everything downstream loses its rank.
//
// Rules are conservative: a rule that cannot tell a dim leaves it unknown, one that cannot tell the rank leaves the
// shape unknown, and an input that breaks the op's contract (which the kernel reports at run time) gives no facts.
// A wrong shape is worse than none: passes rewrite the graph from these shapes.
//
// Symbolic dims follow the IR's convention: two dims with the same non-empty symbol are equal at run time. Rules
// never make up symbols; they only move the ones they are given (a graph input's "batch", ONNX's "unk__3").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace kiln::passes::shapes {

//! One element of a small integer tensor: a known value, or a symbolic dim (a dim of some tensor, so >= 0), or
//! unknown (any value, negative included).
struct Elem {
    std::optional<int64_t> value;
    std::string symbol;  //!< Without a value: the dim's symbol; empty = unknown.

    static Elem of(int64_t v) { return {v, {}}; }
    //! The element a dim read by Shape is.
    static Elem ofDim(const ir::Dim& d) { return d.isStatic() ? of(d.size) : Elem{std::nullopt, d.symbol}; }
    //! The dim this element is as a size: a value >= 0, or its symbol; anything else is unknown.
    ir::Dim toDim() const;
    bool known() const { return value.has_value(); }
};

using Elems = std::vector<Elem>;

//! What is known of one value.
struct Facts {
    ir::SymbolicShape shape;    //!< nullopt: unknown rank.
    std::optional<Elems> data;  //!< For a rank-0 or rank-1 integer tensor: its elements, in order.
};

//! The inputs of one node as a rule sees them; an omitted optional input (or one past the end) has no facts.
class Inputs {
public:
    explicit Inputs(const std::vector<const Facts*>& facts) : mFacts(facts) {}
    size_t size() const { return mFacts.size(); }
    bool has(size_t i) const { return i < mFacts.size() && mFacts[i] != nullptr; }
    const Facts& at(size_t i) const;
    const ir::SymbolicShape& shape(size_t i) const { return at(i).shape; }
    //! The rank of input i, or -1 when unknown.
    int64_t rank(size_t i) const { return shape(i) ? static_cast<int64_t>(shape(i)->size()) : -1; }
    //! The elements of input i when every one of them is a known value.
    std::optional<std::vector<int64_t>> ints(size_t i) const;
    //! The number of elements of 1-D input i, from its data or its static shape; -1 when unknown.
    int64_t length(size_t i) const;

private:
    const std::vector<const Facts*>& mFacts;
};

//! One rule: the outputs' facts (fewer entries than outputs: the rest are unknown).
using Rule = std::vector<Facts> (*)(const ir::Node& node, const Inputs& in);
using RuleTable = std::unordered_map<ir::OpKind, Rule>;

//! The facts of each output of `node` (one per output slot) from its inputs' facts (one per input slot, nullptr for
//! an omitted input). Ops without a rule (and nodes with subgraphs) give unknown outputs.
std::vector<Facts> inferNode(const ir::Node& node, const std::vector<const Facts*>& inputs);

// ---- helpers shared by the rule files

inline ir::Dim unknownDim() { return {}; }
inline bool isUnknown(const ir::Dim& d) { return !d.isStatic() && d.symbol.empty(); }
//! Equal at run time: the same static size, or the same non-empty symbol.
bool sameDim(const ir::Dim& a, const ir::Dim& b);
//! What two dims broadcast to (numpy rules): a static 1 yields the other; equal dims themselves; a static dim other
//! than 1 wins over one that is not static; anything else is unknown.
ir::Dim broadcastDim(const ir::Dim& a, const ir::Dim& b);
//! Multidirectional broadcasting of known-rank shapes; nullopt when a rank is unknown.
ir::SymbolicShape broadcastShapes(const std::vector<const ir::SymbolicShape*>& shapes);
//! `axis` normalized against `rank` (negative counts from the end); nullopt when out of range.
std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank);
//! A shape of `rank` unknown dims.
std::vector<ir::Dim> unknownDims(size_t rank);
//! Axes normalized against `rank`; nullopt when one is out of range or repeated.
std::optional<std::vector<int64_t>> normalizeAxes(const std::vector<int64_t>& axes, int64_t rank);
//! A facts entry with just a shape.
inline Facts shapeOnly(ir::SymbolicShape shape) { return {std::move(shape), std::nullopt}; }
//! A rule's answers: nothing known, or one output.
inline std::vector<Facts> noFacts() { return {}; }
inline std::vector<Facts> oneOutput(ir::SymbolicShape shape, std::optional<Elems> data = std::nullopt) {
    return {Facts{std::move(shape), std::move(data)}};
}
//! The product of dims[begin, end) as a dim: static when all are; the one non-static dim when every other is 1.
ir::Dim dimProduct(const std::vector<ir::Dim>& dims, size_t begin, size_t end);

//! Rule registration, one per rule file.
void addTensorRules(RuleTable& table);    // shape_rules.cpp: elementwise ops, shape arithmetic
void addMovementRules(RuleTable& table);  // shape_rules_movement.cpp: Reshape, Expand, Transpose, Split, ...
void addNnRules(RuleTable& table);        // shape_rules_nn.cpp: MatMul/Gemm, Conv, pooling, reductions, normalization

}  // namespace kiln::passes::shapes
