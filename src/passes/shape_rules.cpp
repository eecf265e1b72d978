// Shape rules of the elementwise ops and of the shape arithmetic exporters emit (Shape, Gather, Unsqueeze, Squeeze,
// Concat, Slice, Cast, integer Add/Sub/Mul/Div on shape elements), which carry the elements of shape tensors; the
// helpers shared by the rule files; and the rule table. The rules mirror the CPU reference kernels
// (backends/cpu/kernels/tensor.cpp, movement_plans.cpp): Slice bounds clamp as planSlice clamps them.
#include <algorithm>
#include <limits>
#include <numeric>

#include "passes/shape_rules.h"

namespace kiln::passes::shapes {

using ir::Dim;
using ir::OpKind;
using Dims = std::vector<Dim>;

// ---- helpers

ir::Dim Elem::toDim() const {
    if (value) return *value >= 0 ? Dim::known(*value) : unknownDim();
    return symbol.empty() ? unknownDim() : Dim::symbolic(symbol);
}

const Facts& Inputs::at(size_t i) const {
    static const Facts kNone;
    return has(i) ? *mFacts[i] : kNone;
}

std::optional<std::vector<int64_t>> Inputs::ints(size_t i) const {
    const auto& data = at(i).data;
    if (!data) return std::nullopt;
    std::vector<int64_t> out;
    for (const Elem& e : *data) {
        if (!e.known()) return std::nullopt;
        out.push_back(*e.value);
    }
    return out;
}

int64_t Inputs::length(size_t i) const {
    const Facts& f = at(i);
    if (f.data && f.shape && f.shape->size() == 1) return static_cast<int64_t>(f.data->size());
    if (f.shape && f.shape->size() == 1 && (*f.shape)[0].isStatic()) return (*f.shape)[0].size;
    return -1;
}

bool sameDim(const Dim& a, const Dim& b) {
    return a.isStatic() ? (b.isStatic() && a.size == b.size) : (!a.symbol.empty() && a.symbol == b.symbol);
}

Dim broadcastDim(const Dim& a, const Dim& b) {
    if (a.isStatic() && a.size == 1) return b;
    if (b.isStatic() && b.size == 1) return a;
    if (sameDim(a, b)) return a;
    // A static dim other than 1 against a dim that is not static: the other must be 1 or equal to it.
    if (a.isStatic() && !b.isStatic()) return a;
    if (b.isStatic() && !a.isStatic()) return b;
    return unknownDim();
}

ir::SymbolicShape broadcastShapes(const std::vector<const ir::SymbolicShape*>& shapes) {
    size_t rank = 0;
    for (const ir::SymbolicShape* s : shapes) {
        if (!*s) return std::nullopt;
        rank = std::max(rank, (*s)->size());
    }
    Dims out(rank, Dim::known(1));
    for (const ir::SymbolicShape* s : shapes) {
        const Dims& d = **s;
        for (size_t i = 0; i < d.size(); ++i) {
            Dim& o = out[rank - d.size() + i];
            o = broadcastDim(o, d[i]);
        }
    }
    return out;
}

std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
    const int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) return std::nullopt;
    return a;
}

std::optional<std::vector<int64_t>> normalizeAxes(const std::vector<int64_t>& axes, int64_t rank) {
    std::vector<int64_t> out;
    for (int64_t a : axes) {
        auto n = normalizeAxis(a, rank);
        if (!n || std::find(out.begin(), out.end(), *n) != out.end()) return std::nullopt;
        out.push_back(*n);
    }
    return out;
}

Dims unknownDims(size_t rank) { return Dims(rank, unknownDim()); }

Dim dimProduct(const Dims& dims, size_t begin, size_t end) {
    int64_t product = 1;
    const Dim* other = nullptr;
    int nonStatic = 0;
    for (size_t i = begin; i < end; ++i) {
        const Dim& d = dims[i];
        if (!d.isStatic()) {
            ++nonStatic;
            other = &d;
        } else if (d.size != 0 && product > std::numeric_limits<int64_t>::max() / d.size) {
            return unknownDim();
        } else {
            product *= d.size;
        }
    }
    if (product == 0) return Dim::known(0);
    if (nonStatic == 0) return Dim::known(product);
    return nonStatic == 1 && product == 1 ? *other : unknownDim();
}

namespace {

//! The length of a Slice of a dim of `size` elements, its bounds clamped as the CPU kernel's planSlice clamps them.
int64_t sliceLength(int64_t start, int64_t end, int64_t step, int64_t size) {
    int64_t s = start < 0 ? start + size : start;
    int64_t e = end < 0 ? end + size : end;
    if (step > 0) {
        s = std::clamp<int64_t>(s, 0, size);
        e = std::clamp<int64_t>(e, 0, size);
        return e > s ? (e - s - 1) / step + 1 : 0;
    }
    s = std::clamp<int64_t>(s, -1, size - 1);
    e = std::clamp<int64_t>(e, -1, size - 1);
    return s > e ? (s - e - 1) / -step + 1 : 0;
}

//! The first index a Slice reads, clamped the same way.
int64_t sliceStart(int64_t start, int64_t step, int64_t size) {
    const int64_t s = start < 0 ? start + size : start;
    return step > 0 ? std::clamp<int64_t>(s, 0, size) : std::clamp<int64_t>(s, -1, size - 1);
}

// ---- elementwise

//! Every output has input 0's shape (unary ops, activations, normalizations, Dropout and its mask, Scatter*).
std::vector<Facts> sameAsInput0(const ir::Node& node, const Inputs& in) {
    return std::vector<Facts>(node.outputs().size(), shapeOnly(in.shape(0)));
}

std::vector<Facts> identity(const ir::Node&, const Inputs& in) { return {in.at(0)}; }

//! Casts between integer types keep the elements (values that do not fit the target type are not kept).
std::vector<Facts> cast(const ir::Node& node, const Inputs& in) {
    const DataType to = node.output(0) ? node.output(0)->dtype() : DataType::kUndefined;
    if ((to != DataType::kInt64 && to != DataType::kInt32) || !in.at(0).data) return oneOutput(in.shape(0));
    Elems data = *in.at(0).data;
    for (Elem& e : data) {
        if (to == DataType::kInt32 && e.value &&
            (*e.value > std::numeric_limits<int32_t>::max() || *e.value < std::numeric_limits<int32_t>::min())) {
            e = Elem{};
        }
    }
    return oneOutput(in.shape(0), std::move(data));
}

//! Integer arithmetic on shape elements: known values combine; x*1, x/1, x+0 and x-0 keep x (symbol included).
Elem arithmetic(OpKind op, const Elem& a, const Elem& b) {
    const bool bIsOne = b.value == int64_t{1};
    const bool bIsZero = b.value == int64_t{0};
    if ((op == OpKind::kMul && bIsOne) || (op == OpKind::kDiv && bIsOne) ||
        ((op == OpKind::kAdd || op == OpKind::kSub) && bIsZero)) {
        return a;
    }
    if ((op == OpKind::kMul && a.value == int64_t{1}) || (op == OpKind::kAdd && a.value == int64_t{0})) return b;
    if (!a.value || !b.value) return Elem{};
    const int64_t x = *a.value, y = *b.value;
    int64_t r = 0;
    switch (op) {
        case OpKind::kAdd:
            if (__builtin_add_overflow(x, y, &r)) return Elem{};
            return Elem::of(r);
        case OpKind::kSub:
            if (__builtin_sub_overflow(x, y, &r)) return Elem{};
            return Elem::of(r);
        case OpKind::kMul:
            if (__builtin_mul_overflow(x, y, &r)) return Elem{};
            return Elem::of(r);
        // Truncating and flooring division agree on non-negative operands; leave the rest to run time.
        case OpKind::kDiv: return x >= 0 && y > 0 ? Elem::of(x / y) : Elem{};
        default: return Elem{};
    }
}

std::vector<Facts> broadcastOp(const ir::Node& node, const Inputs& in) {
    std::vector<const ir::SymbolicShape*> shapes;
    for (size_t i = 0; i < in.size(); ++i) {
        if (!in.has(i)) return noFacts();
        shapes.push_back(&in.shape(i));
    }
    ir::SymbolicShape shape = broadcastShapes(shapes);
    std::optional<Elems> data;
    const OpKind op = node.op();
    const bool arith = op == OpKind::kAdd || op == OpKind::kSub || op == OpKind::kMul || op == OpKind::kDiv;
    if (arith && shape && shape->size() <= 1 && in.size() == 2 && in.at(0).data && in.at(1).data) {
        const Elems& a = *in.at(0).data;
        const Elems& b = *in.at(1).data;
        const size_t n = std::max(a.size(), b.size());
        if ((a.size() == n || a.size() == 1) && (b.size() == n || b.size() == 1)) {
            data.emplace();
            for (size_t i = 0; i < n; ++i)
                data->push_back(arithmetic(op, a[a.size() == 1 ? 0 : i], b[b.size() == 1 ? 0 : i]));
        }
    }
    return oneOutput(std::move(shape), std::move(data));
}

// ---- shape arithmetic

std::vector<Facts> shapeOf(const ir::Node& node, const Inputs& in) {
    if (!in.shape(0)) return oneOutput(Dims{unknownDim()});
    const Dims& dims = *in.shape(0);
    const auto rank = static_cast<int64_t>(dims.size());
    auto clampAxis = [rank](int64_t a) { return std::clamp(a < 0 ? a + rank : a, int64_t{0}, rank); };
    const int64_t start = clampAxis(node.attrs().getInt("start", 0));
    const int64_t end = std::max(start, clampAxis(node.attrs().getInt("end", rank)));
    Elems data;
    for (int64_t i = start; i < end; ++i) data.push_back(Elem::ofDim(dims[static_cast<size_t>(i)]));
    return oneOutput(Dims{Dim::known(end - start)}, std::move(data));
}

std::vector<Facts> sizeOf(const ir::Node&, const Inputs& in) {
    if (!in.shape(0)) return oneOutput(Dims{});
    return oneOutput(Dims{}, Elems{Elem::ofDim(dimProduct(*in.shape(0), 0, in.shape(0)->size()))});
}

std::vector<Facts> gather(const ir::Node& node, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0 || in.rank(1) < 0) return noFacts();
    const auto axis = normalizeAxis(node.attrs().getInt("axis", 0), rank);
    if (!axis) return noFacts();
    const Dims& d = *in.shape(0);
    Dims out(d.begin(), d.begin() + *axis);
    out.insert(out.end(), in.shape(1)->begin(), in.shape(1)->end());
    out.insert(out.end(), d.begin() + *axis + 1, d.end());
    std::optional<Elems> data;
    const auto indices = in.ints(1);
    if (rank == 1 && in.at(0).data && indices) {
        const Elems& src = *in.at(0).data;
        const auto n = static_cast<int64_t>(src.size());
        data.emplace();
        for (int64_t i : *indices) {
            const int64_t j = i < 0 ? i + n : i;
            if (j < 0 || j >= n) return oneOutput(std::move(out));
            data->push_back(src[static_cast<size_t>(j)]);
        }
    }
    return oneOutput(std::move(out), std::move(data));
}

std::vector<Facts> unsqueeze(const ir::Node&, const Inputs& in) {
    const int64_t rank = in.rank(0);
    const auto axes = in.ints(1);
    if (rank < 0) return noFacts();
    if (!axes) {
        const int64_t n = in.length(1);
        return n < 0 ? noFacts() : oneOutput(unknownDims(static_cast<size_t>(rank + n)));
    }
    const int64_t outRank = rank + static_cast<int64_t>(axes->size());
    const auto norm = normalizeAxes(*axes, outRank);
    if (!norm) return noFacts();
    Dims out;
    size_t next = 0;
    for (int64_t i = 0; i < outRank; ++i) {
        const bool inserted = std::find(norm->begin(), norm->end(), i) != norm->end();
        out.push_back(inserted ? Dim::known(1) : (*in.shape(0))[next++]);
    }
    std::optional<Elems> data;
    if (rank == 0 && in.at(0).data) data = in.at(0).data;
    return oneOutput(std::move(out), std::move(data));
}

std::vector<Facts> squeeze(const ir::Node&, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return noFacts();
    const Dims& d = *in.shape(0);
    std::vector<bool> drop(d.size(), false);
    const auto axes = in.has(1) ? in.ints(1) : std::optional<std::vector<int64_t>>(std::vector<int64_t>{});
    if (!axes) {
        const int64_t n = in.length(1);
        return n > 0 && n <= rank ? oneOutput(unknownDims(static_cast<size_t>(rank - n))) : noFacts();
    }
    if (!axes->empty()) {
        const auto norm = normalizeAxes(*axes, rank);
        if (!norm) return noFacts();
        for (int64_t a : *norm) {
            const Dim& dim = d[static_cast<size_t>(a)];
            if (dim.isStatic() && dim.size != 1) return noFacts();
            drop[static_cast<size_t>(a)] = true;
        }
    } else {
        // Squeezing every size-1 dim: the rank is known only when every dim is.
        for (size_t i = 0; i < d.size(); ++i) {
            if (!d[i].isStatic()) return noFacts();
            drop[i] = d[i].size == 1;
        }
    }
    Dims out;
    for (size_t i = 0; i < d.size(); ++i) {
        if (!drop[i]) out.push_back(d[i]);
    }
    std::optional<Elems> data;
    if (rank == 1 && out.empty() && in.at(0).data) data = in.at(0).data;
    return oneOutput(std::move(out), std::move(data));
}

//! Dim i of every input is equal at run time (but on the concatenation axis): any input's static or symbolic dim is
//! the output's.
Dim mergeDims(const Inputs& in, size_t i) {
    Dim best = unknownDim();
    for (size_t k = 0; k < in.size(); ++k) {
        if (!in.shape(k)) continue;
        const Dim& d = (*in.shape(k))[i];
        if (d.isStatic()) return d;
        if (best.symbol.empty()) best = d;
    }
    return best;
}

std::vector<Facts> concat(const ir::Node& node, const Inputs& in) {
    int64_t rank = -1;
    for (size_t k = 0; k < in.size(); ++k) {
        if (!in.has(k)) return noFacts();
        if (in.rank(k) < 0) continue;
        if (rank >= 0 && in.rank(k) != rank) return noFacts();
        rank = in.rank(k);
    }
    if (rank < 0) return noFacts();
    const auto axis = normalizeAxis(node.attrs().getInt("axis", 0), rank);
    if (!axis) return noFacts();
    Dims out;
    for (int64_t i = 0; i < rank; ++i) out.push_back(mergeDims(in, static_cast<size_t>(i)));
    int64_t total = 0;
    bool allStatic = true;
    Elems data;
    bool allData = rank == 1;
    for (size_t k = 0; k < in.size(); ++k) {
        const Dim* d = in.shape(k) ? &(*in.shape(k))[static_cast<size_t>(*axis)] : nullptr;
        allStatic = allStatic && d && d->isStatic();
        if (allStatic) total += d->size;
        allData = allData && in.at(k).data;
        if (allData) data.insert(data.end(), in.at(k).data->begin(), in.at(k).data->end());
    }
    out[static_cast<size_t>(*axis)] = allStatic ? Dim::known(total) : unknownDim();
    if (allData) out[0] = Dim::known(static_cast<int64_t>(data.size()));
    return oneOutput(std::move(out), allData ? std::optional<Elems>(std::move(data)) : std::nullopt);
}

std::vector<Facts> slice(const ir::Node&, const Inputs& in) {
    const int64_t rank = in.rank(0);
    if (rank < 0) return noFacts();
    const Dims& d = *in.shape(0);
    const auto starts = in.ints(1);
    const auto ends = in.ints(2);
    // Which axes are sliced: input 3, else the first len(starts).
    std::optional<std::vector<int64_t>> axes;
    if (in.has(3)) {
        axes = in.ints(3);
    } else if (const int64_t n = in.length(1); n >= 0 && n <= rank) {
        axes.emplace(static_cast<size_t>(n));
        std::iota(axes->begin(), axes->end(), 0);
    }
    if (!axes) return oneOutput(unknownDims(d.size()));
    const auto norm = normalizeAxes(*axes, rank);
    if (!norm) return noFacts();
    const size_t n = norm->size();
    std::optional<std::vector<int64_t>> steps = in.has(4) ? in.ints(4) : std::vector<int64_t>(n, 1);
    Dims out = d;
    for (size_t k = 0; k < n; ++k) {
        Dim& o = out[static_cast<size_t>((*norm)[k])];
        const bool known = starts && ends && steps && starts->size() == n && ends->size() == n && steps->size() == n;
        if (!known || (*steps)[k] == 0) {
            o = unknownDim();
            continue;
        }
        const int64_t s = (*starts)[k], e = (*ends)[k], st = (*steps)[k];
        if (o.isStatic()) {
            o = Dim::known(sliceLength(s, e, st, o.size));
        } else if (!(s == 0 && st == 1 && e >= std::numeric_limits<int32_t>::max())) {
            o = unknownDim();  // only [0, end of dim) keeps a dim that is not static
        }
    }
    std::optional<Elems> data;
    if (rank == 1 && in.at(0).data && out[0].isStatic() && starts && steps && n == 1) {
        const Elems& src = *in.at(0).data;
        const int64_t st = (*steps)[0];
        int64_t pos = sliceStart((*starts)[0], st, static_cast<int64_t>(src.size()));
        data.emplace();
        for (int64_t i = 0; i < out[0].size; ++i, pos += st) data->push_back(src[static_cast<size_t>(pos)]);
    }
    return oneOutput(std::move(out), std::move(data));
}

std::vector<Facts> constantOfShape(const ir::Node&, const Inputs& in) {
    if (in.at(0).data) {
        Dims out;
        for (const Elem& e : *in.at(0).data) out.push_back(e.toDim());
        return oneOutput(std::move(out));
    }
    const int64_t n = in.length(0);
    return n < 0 ? noFacts() : oneOutput(unknownDims(static_cast<size_t>(n)));
}

//! Integer Range (the only kind whose inputs carry elements), counted as the CPU kernel's planRange does.
std::vector<Facts> range(const ir::Node&, const Inputs& in) {
    const auto start = in.ints(0), limit = in.ints(1), delta = in.ints(2);
    int64_t diff = 0;
    if (!start || !limit || !delta || start->size() != 1 || limit->size() != 1 || delta->size() != 1 ||
        (*delta)[0] == 0 || __builtin_sub_overflow((*limit)[0], (*start)[0], &diff)) {
        return oneOutput(Dims{unknownDim()});
    }
    const int64_t d = (*delta)[0];
    int64_t count = 0;
    if (diff != 0 && (diff > 0) == (d > 0)) {
        const auto mag = diff > 0 ? static_cast<uint64_t>(diff) : 0 - static_cast<uint64_t>(diff);
        const auto step = d > 0 ? static_cast<uint64_t>(d) : 0 - static_cast<uint64_t>(d);
        count = static_cast<int64_t>(mag / step + (mag % step != 0 ? 1 : 0));
    }
    return oneOutput(Dims{Dim::known(count)});
}

std::vector<Facts> nonZero(const ir::Node&, const Inputs& in) {
    return oneOutput(Dims{in.rank(0) >= 0 ? Dim::known(in.rank(0)) : unknownDim(), unknownDim()});
}

std::vector<Facts> gatherElements(const ir::Node&, const Inputs& in) { return oneOutput(in.shape(1)); }

}  // namespace

void addTensorRules(RuleTable& t) {
    // Whole op families by the op table: elementwise unary ops and activations keep their input's shape, the
    // binary (and variadic) elementwise ops broadcast.
    for (int32_t k = 0; k < ir::kOpCount; ++k) {
        const ir::OpInfo& info = ir::opInfo(static_cast<OpKind>(k));
        if (!info.domain.empty()) continue;
        if (info.family == "ElementwiseUnary" || info.family == "Activation") t[info.kind] = sameAsInput0;
        if (info.family == "ElementwiseBinary") t[info.kind] = broadcastOp;
    }
    for (OpKind op :
         {OpKind::kDropout, OpKind::kTrilu, OpKind::kCumSum, OpKind::kReverseSequence, OpKind::kScatter,
          OpKind::kScatterElements, OpKind::kScatterND, OpKind::kQuantizeLinear, OpKind::kDequantizeLinear}) {
        t[op] = sameAsInput0;
    }
    t[OpKind::kIdentity] = identity;
    t[OpKind::kCast] = cast;
    t[OpKind::kCastLike] = cast;
    t[OpKind::kShape] = shapeOf;
    t[OpKind::kSize] = sizeOf;
    t[OpKind::kGather] = gather;
    t[OpKind::kGatherElements] = gatherElements;
    t[OpKind::kUnsqueeze] = unsqueeze;
    t[OpKind::kSqueeze] = squeeze;
    t[OpKind::kConcat] = concat;
    t[OpKind::kSlice] = slice;
    t[OpKind::kConstantOfShape] = constantOfShape;
    t[OpKind::kRange] = range;
    t[OpKind::kNonZero] = nonZero;
}

std::vector<Facts> inferNode(const ir::Node& node, const std::vector<const Facts*>& inputs) {
    static const RuleTable kRules = [] {
        RuleTable t;
        addTensorRules(t);
        addMovementRules(t);
        addNnRules(t);
        return t;
    }();
    std::vector<Facts> out;
    auto it = kRules.find(node.op());
    if (it != kRules.end()) out = it->second(node, Inputs(inputs));
    out.resize(node.outputs().size());
    return out;
}

}  // namespace kiln::passes::shapes
