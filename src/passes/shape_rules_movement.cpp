// Shape rules of the reshaping and data-movement ops: Reshape, Expand, Transpose, Flatten, Split, Tile, Pad. They
// mirror the CPU reference kernels (backends/cpu/kernels/tensor.cpp, movement_plans.cpp): the same meaning of 0 and
// -1 in a Reshape target (allowzero included), the same equal Split, the same Pad axes.
#include <algorithm>
#include <numeric>

#include "passes/shape_rules.h"

namespace kiln::passes::shapes {

using ir::Dim;
using ir::OpKind;
using Dims = std::vector<Dim>;

namespace {

//! The -1 of a Reshape target: numel(input) over the product of the other output dims. Symbolic dims of the output
//! cancel against equal input dims; what is left must be static, or one input symbol over equal static products.
Dim inferredDim(const Dims& in, const Dims& out, size_t minusOne) {
    Dims rest;  // the input's dims that are not static, less those the output repeats
    int64_t inStatic = 1, outStatic = 1;
    for (const Dim& d : in) {
        if (!d.isStatic()) rest.push_back(d);
        else if (__builtin_mul_overflow(inStatic, d.size, &inStatic)) return unknownDim();
    }
    for (size_t i = 0; i < out.size(); ++i) {
        if (i == minusOne) continue;
        if (out[i].isStatic()) {
            if (__builtin_mul_overflow(outStatic, out[i].size, &outStatic)) return unknownDim();
            continue;
        }
        auto it = std::find_if(rest.begin(), rest.end(), [&](const Dim& d) { return sameDim(d, out[i]); });
        if (it == rest.end()) return unknownDim();  // an unknown dim, or a symbol the input does not have
        rest.erase(it);
    }
    if (outStatic == 0) return unknownDim();  // the kernel rejects it
    if (inStatic == 0) return Dim::known(0);  // an empty input: whatever the symbols are
    if (rest.empty()) return inStatic % outStatic == 0 ? Dim::known(inStatic / outStatic) : unknownDim();
    return rest.size() == 1 && !rest[0].symbol.empty() && inStatic == outStatic ? rest[0] : unknownDim();
}

std::vector<Facts> reshape(const ir::Node& node, const Inputs& in) {
    std::optional<Elems> target = in.at(1).data;
    if (!in.has(1) && node.opset() < 5) {
        if (auto attr = node.attrs().getInts("shape")) {
            target.emplace();
            for (int64_t v : *attr) target->push_back(Elem::of(v));
        }
    }
    if (!target) {
        const int64_t n = in.length(1);
        return n < 0 ? noFacts() : oneOutput(unknownDims(static_cast<size_t>(n)));
    }
    const bool allowZero = node.attrs().getInt("allowzero", 0) != 0;
    const ir::SymbolicShape& src = in.shape(0);
    Dims out;
    std::optional<size_t> minusOne;
    for (size_t i = 0; i < target->size(); ++i) {
        const Elem& e = (*target)[i];
        const bool hasInputDim = src && i < src->size();
        if (e.value) {
            const int64_t v = *e.value;
            // The kernel rejects these: dims below -1, a second -1, a 0 copying a dim the input lacks.
            if (v < -1 || (v == -1 && minusOne) || (v == 0 && !allowZero && src && !hasInputDim)) return noFacts();
            if (v == -1) minusOne = i;
            if (v == 0 && !allowZero) out.push_back(hasInputDim ? (*src)[i] : unknownDim());
            else out.push_back(v == -1 ? unknownDim() : Dim::known(v));
        } else if (!e.symbol.empty()) {
            // A dim read by Shape (so >= 0): itself, unless it is 0 at run time and copies input dim i. When input
            // dim i is that same dim, or there is none (a copy would be rejected), both readings agree.
            const bool agree = allowZero || (src && (!hasInputDim || sameDim((*src)[i], e.toDim())));
            out.push_back(agree ? e.toDim() : unknownDim());
        } else {
            out.push_back(unknownDim());
        }
    }
    if (minusOne) out[*minusOne] = src ? inferredDim(*src, out, *minusOne) : unknownDim();
    return oneOutput(std::move(out));
}

std::vector<Facts> expand(const ir::Node&, const Inputs& in) {
    if (!in.shape(0)) return noFacts();
    Dims target;
    if (in.at(1).data) {
        for (const Elem& e : *in.at(1).data) target.push_back(e.toDim());
    } else if (const int64_t n = in.length(1); n >= 0) {
        target = unknownDims(static_cast<size_t>(n));
    } else {
        return noFacts();
    }
    const ir::SymbolicShape t = target;
    return oneOutput(broadcastShapes({&in.shape(0), &t}));
}

std::vector<Facts> transpose(const ir::Node& node, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return noFacts();
    std::vector<int64_t> perm(static_cast<size_t>(rank));
    std::iota(perm.rbegin(), perm.rend(), 0);
    if (auto p = node.attrs().getInts("perm")) perm = *p;
    const auto norm = normalizeAxes(perm, rank);
    if (!norm || static_cast<int64_t>(norm->size()) != rank) return noFacts();
    Dims out;
    for (int64_t p : *norm) out.push_back((*in.shape(0))[static_cast<size_t>(p)]);
    return oneOutput(std::move(out));
}

std::vector<Facts> flatten(const ir::Node& node, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return oneOutput(unknownDims(2));
    int64_t axis = node.attrs().getInt("axis", 1);
    if (axis < -rank || axis > rank) return noFacts();
    if (axis < 0) axis += rank;
    const Dims& d = *in.shape(0);
    return oneOutput(
        Dims{dimProduct(d, 0, static_cast<size_t>(axis)), dimProduct(d, static_cast<size_t>(axis), d.size())});
}

std::vector<Facts> split(const ir::Node& node, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return noFacts();
    const auto axis = normalizeAxis(node.attrs().getInt("axis", 0), rank);
    if (!axis) return noFacts();
    const size_t parts = node.outputs().size();
    const Dim& dim = (*in.shape(0))[static_cast<size_t>(*axis)];
    std::vector<Dim> sizes(parts, unknownDim());
    const auto given = in.has(1) ? in.ints(1) : std::optional<std::vector<int64_t>>(std::vector<int64_t>{});
    if (given && !given->empty()) {
        if (given->size() != parts) return noFacts();
        for (size_t i = 0; i < parts; ++i) sizes[i] = (*given)[i] >= 0 ? Dim::known((*given)[i]) : unknownDim();
    } else if (given && dim.isStatic() && parts > 0 && dim.size % static_cast<int64_t>(parts) == 0) {
        sizes.assign(parts, Dim::known(dim.size / static_cast<int64_t>(parts)));
    } else if (given && parts == 1) {
        sizes[0] = dim;
    }
    std::vector<Facts> out;
    for (const Dim& s : sizes) {
        Dims d = *in.shape(0);
        d[static_cast<size_t>(*axis)] = s;
        out.push_back(shapeOnly(std::move(d)));
    }
    return out;
}

std::vector<Facts> tile(const ir::Node&, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return noFacts();
    const auto repeats = in.ints(1);
    if (!repeats) return oneOutput(unknownDims(static_cast<size_t>(rank)));
    if (static_cast<int64_t>(repeats->size()) != rank) return noFacts();
    Dims out = *in.shape(0);
    for (size_t i = 0; i < out.size(); ++i) {
        const int64_t r = (*repeats)[i];
        if (r == 1) continue;
        out[i] = out[i].isStatic() && r >= 0 ? Dim::known(out[i].size * r) : unknownDim();
    }
    return oneOutput(std::move(out));
}

std::vector<Facts> pad(const ir::Node&, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return noFacts();
    const auto pads = in.ints(1);
    std::optional<std::vector<int64_t>> axes(std::vector<int64_t>(static_cast<size_t>(rank)));
    std::iota(axes->begin(), axes->end(), 0);
    if (in.has(3)) axes = in.ints(3);
    if (!pads || !axes) return oneOutput(unknownDims(static_cast<size_t>(rank)));
    const auto norm = normalizeAxes(*axes, rank);
    if (!norm || pads->size() != 2 * norm->size()) return noFacts();
    Dims out = *in.shape(0);
    for (size_t k = 0; k < norm->size(); ++k) {
        Dim& o = out[static_cast<size_t>((*norm)[k])];
        const int64_t grow = (*pads)[k] + (*pads)[k + norm->size()];
        if (grow == 0) continue;
        o = o.isStatic() && o.size + grow >= 0 ? Dim::known(o.size + grow) : unknownDim();
    }
    return oneOutput(std::move(out));
}

}  // namespace

void addMovementRules(RuleTable& t) {
    t[OpKind::kReshape] = reshape;
    t[OpKind::kExpand] = expand;
    t[OpKind::kTranspose] = transpose;
    t[OpKind::kTransposeCast] = transpose;  // kiln: Transpose's shape in the attribute `to`'s dtype
    t[OpKind::kFlatten] = flatten;
    t[OpKind::kSplit] = split;
    t[OpKind::kTile] = tile;
    t[OpKind::kPad] = pad;
}

}  // namespace kiln::passes::shapes
