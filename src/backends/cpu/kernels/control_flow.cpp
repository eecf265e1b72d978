// Control flow: If, Loop, Scan. Bodies run through ctx.runSubgraph, which sees this node's scope.
#include <cstring>

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

namespace {

//! Tensor slice `index` along `axis` (the axis removed).
Tensor sliceAlong(const Tensor& t, int64_t axis, int64_t index) {
    Shape shape = t.shape();
    const int64_t outer = shapeNumel(Shape(shape.begin(), shape.begin() + axis));
    const int64_t count = shape[static_cast<size_t>(axis)];
    const int64_t inner = shapeNumel(Shape(shape.begin() + axis + 1, shape.end()));
    shape.erase(shape.begin() + axis);
    Tensor out(t.dtype(), shape);
    const size_t es = dataTypeSize(t.dtype());
    for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(static_cast<char*>(out.raw()) + o * inner * es,
                    static_cast<const char*>(t.raw()) + (o * count + index) * inner * es, inner * es);
    }
    return out;
}

//! Stacks equally shaped tensors along a new `axis`.
Result<Tensor> stackAlong(const std::vector<Tensor>& parts, int64_t axis, DataType type, const Shape& elemShape) {
    Shape shape = elemShape;
    shape.insert(shape.begin() + axis, static_cast<int64_t>(parts.size()));
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(type, shape));
    const int64_t outer = shapeNumel(Shape(elemShape.begin(), elemShape.begin() + axis));
    const int64_t inner = shapeNumel(Shape(elemShape.begin() + axis, elemShape.end()));
    const auto count = static_cast<int64_t>(parts.size());
    const size_t es = dataTypeSize(type);
    for (int64_t k = 0; k < count; ++k) {
        const Tensor& p = parts[static_cast<size_t>(k)];
        if (p.shape() != elemShape || p.dtype() != type) {
            return invalidArgument("scan output changes shape between iterations: " + p.describe() + " vs " +
                                   std::string(dataTypeName(type)) + "[" + shapeToString(elemShape) + "]");
        }
        for (int64_t o = 0; o < outer; ++o) {
            std::memcpy(static_cast<char*>(out.raw()) + (o * count + k) * inner * es,
                        static_cast<const char*>(p.raw()) + o * inner * es, inner * es);
        }
    }
    return out;
}

bool truthy(const Tensor& t) { return t.numel() > 0 && t.getInt(0) != 0; }

}  // namespace

Status kernelIf(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& cond = ctx.input(0);
    if (cond.numel() != 1) return invalidArgument("condition must hold one element, got " + cond.describe());
    auto branch = ctx.attrs().getGraph(truthy(cond) ? "then_branch" : "else_branch");
    if (!branch) return invalidArgument("missing then_branch/else_branch attribute");
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> outs, ctx.runSubgraph(*branch, {}));
    if (outs.size() != ctx.numOutputs()) {
        return invalidArgument("branch '" + branch->name() + "' returns " + std::to_string(outs.size()) +
                               " values, the node has " + std::to_string(ctx.numOutputs()) + " outputs");
    }
    for (size_t i = 0; i < outs.size(); ++i) ctx.outputs[i] = std::move(outs[i]);
    return Status::ok();
}

Status kernelLoop(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(0));
    auto body = ctx.attrs().getGraph("body");
    if (!body) return invalidArgument("missing body attribute");
    const int64_t maxTrips = ctx.hasInput(0) ? ctx.input(0).getInt(0) : INT64_MAX;
    bool cond = ctx.hasInput(1) ? truthy(ctx.input(1)) : true;
    std::vector<Tensor> carried;
    for (size_t i = 2; i < ctx.numInputs(); ++i) {
        if (!ctx.hasInput(i)) return unsupported("optional loop-carried values are not supported");
        carried.push_back(ctx.input(i));
    }
    const size_t numCarried = carried.size();
    if (body->inputs().size() != numCarried + 2) {
        return invalidArgument("body takes " + std::to_string(body->inputs().size()) + " inputs, expected " +
                               std::to_string(numCarried + 2));
    }
    if (body->outputs().size() < 1 + numCarried) {
        return invalidArgument("body returns " + std::to_string(body->outputs().size()) +
                               " values, expected at least " + std::to_string(1 + numCarried) +
                               " (condition + loop-carried values)");
    }
    const size_t numScan = body->outputs().size() - 1 - numCarried;
    std::vector<std::vector<Tensor>> scans(numScan);
    constexpr int64_t kTripLimit = int64_t{1} << 31;
    for (int64_t trip = 0; trip < maxTrips && cond; ++trip) {
        if (trip >= kTripLimit) return outOfRange("loop exceeded " + std::to_string(kTripLimit) + " iterations");
        std::vector<Tensor> in;
        in.push_back(Tensor::scalar<int64_t>(trip));
        in.push_back(Tensor::scalar<bool>(cond));
        for (auto& c : carried) in.push_back(c);
        KILN_ASSIGN_OR_RETURN(std::vector<Tensor> out, ctx.runSubgraph(*body, in));
        cond = truthy(out[0]);
        for (size_t i = 0; i < numCarried; ++i) carried[i] = std::move(out[1 + i]);
        for (size_t i = 0; i < numScan; ++i) scans[i].push_back(std::move(out[1 + numCarried + i]));
    }
    for (size_t i = 0; i < numCarried && i < ctx.numOutputs(); ++i) ctx.outputs[i] = carried[i];
    for (size_t i = 0; i < numScan && numCarried + i < ctx.numOutputs(); ++i) {
        const ir::Value* bodyOut = body->outputs()[1 + numCarried + i];
        if (scans[i].empty()) {
            // Zero iterations: an empty tensor whose element shape comes from the body's declared output.
            Shape shape{0};
            if (const auto elem = bodyOut->staticShape()) shape.insert(shape.end(), elem->begin(), elem->end());
            const DataType t = bodyOut->dtype() == DataType::kUndefined ? DataType::kFloat32 : bodyOut->dtype();
            ctx.outputs[numCarried + i] = Tensor(t, shape);
            continue;
        }
        KILN_ASSIGN_OR_RETURN(ctx.outputs[numCarried + i],
                              stackAlong(scans[i], 0, scans[i][0].dtype(), scans[i][0].shape()));
    }
    return Status::ok();
}

namespace {

//! Scan-9+ over one batch (or Scan-8 over one batch element).
Status runScan(KernelContext& ctx, const ir::Graph& body, std::vector<Tensor> states, const std::vector<Tensor>& scanIn,
               std::vector<Tensor>& finalStates, std::vector<Tensor>& scanOut) {
    const auto& attrs = ctx.attrs();
    const auto numScanIn = static_cast<int64_t>(scanIn.size());
    const auto inAxes = attrs.getInts("scan_input_axes").value_or(std::vector<int64_t>(numScanIn, 0));
    const auto inDirs = attrs.getInts("scan_input_directions").value_or(std::vector<int64_t>(numScanIn, 0));
    const size_t numScanOut = body.outputs().size() - states.size();
    const auto outAxes = attrs.getInts("scan_output_axes").value_or(std::vector<int64_t>(numScanOut, 0));
    const auto outDirs = attrs.getInts("scan_output_directions").value_or(std::vector<int64_t>(numScanOut, 0));
    if (numScanIn == 0) return invalidArgument("Scan needs at least one scan input");
    if (body.outputs().size() < states.size()) {
        return invalidArgument("body returns fewer values than the " + std::to_string(states.size()) + " scan states");
    }
    auto checkLength = [](const std::vector<int64_t>& v, size_t n, const char* name) {
        return v.size() == n ? Status::ok()
                             : invalidArgument(std::string(name) + " has " + std::to_string(v.size()) +
                                               " entries, expected " + std::to_string(n));
    };
    KILN_RETURN_IF_ERROR(checkLength(inAxes, static_cast<size_t>(numScanIn), "scan_input_axes"));
    KILN_RETURN_IF_ERROR(checkLength(inDirs, static_cast<size_t>(numScanIn), "scan_input_directions"));
    KILN_RETURN_IF_ERROR(checkLength(outAxes, numScanOut, "scan_output_axes"));
    KILN_RETURN_IF_ERROR(checkLength(outDirs, numScanOut, "scan_output_directions"));
    if (body.inputs().size() != states.size() + scanIn.size()) {
        return invalidArgument("body takes " + std::to_string(body.inputs().size()) + " inputs, expected " +
                               std::to_string(states.size() + scanIn.size()));
    }
    std::vector<int64_t> axes(static_cast<size_t>(numScanIn));
    for (int64_t i = 0; i < numScanIn; ++i) {
        KILN_ASSIGN_OR_RETURN(axes[i], normalizeAxis(inAxes[i], scanIn[i].rank(), "scan_input_axes"));
    }
    const int64_t length = scanIn[0].dim(axes[0]);
    for (int64_t i = 1; i < numScanIn; ++i) {
        if (scanIn[i].dim(axes[i]) != length) {
            return invalidArgument("scan inputs have different sequence lengths: " + std::to_string(length) + " and " +
                                   std::to_string(scanIn[i].dim(axes[i])));
        }
    }
    std::vector<std::vector<Tensor>> parts(numScanOut);
    for (int64_t t = 0; t < length; ++t) {
        std::vector<Tensor> in = states;
        for (int64_t i = 0; i < numScanIn; ++i) {
            const int64_t idx = inDirs[i] ? length - 1 - t : t;
            in.push_back(sliceAlong(scanIn[i], axes[i], idx));
        }
        KILN_ASSIGN_OR_RETURN(std::vector<Tensor> out, ctx.runSubgraph(body, in));
        for (size_t s = 0; s < states.size(); ++s) states[s] = std::move(out[s]);
        for (size_t o = 0; o < numScanOut; ++o) parts[o].push_back(std::move(out[states.size() + o]));
    }
    finalStates = states;
    scanOut.clear();
    for (size_t o = 0; o < numScanOut; ++o) {
        if (outDirs[o]) std::reverse(parts[o].begin(), parts[o].end());
        if (parts[o].empty()) return unsupported("Scan with zero iterations");
        const int64_t rank = parts[o][0].rank() + 1;
        KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(outAxes[o], rank, "scan_output_axes"));
        KILN_ASSIGN_OR_RETURN(Tensor stacked, stackAlong(parts[o], axis, parts[o][0].dtype(), parts[o][0].shape()));
        scanOut.push_back(std::move(stacked));
    }
    return Status::ok();
}

}  // namespace

Status kernelScan(KernelContext& ctx) {
    auto body = ctx.attrs().getGraph("body");
    if (!body) return invalidArgument("missing body attribute");
    const int64_t numScanIn = ctx.attrs().getInt("num_scan_inputs", -1);
    if (numScanIn < 1) return invalidArgument("num_scan_inputs must be >= 1");
    const size_t firstInput = ctx.opset() < 9 ? 1 : 0;  // Scan-8 takes sequence_lens first
    if (ctx.numInputs() < firstInput + static_cast<size_t>(numScanIn)) {
        return invalidArgument("fewer inputs than num_scan_inputs");
    }
    const size_t numStates = ctx.numInputs() - firstInput - static_cast<size_t>(numScanIn);
    std::vector<Tensor> states;
    std::vector<Tensor> scans;
    for (size_t i = firstInput; i < ctx.numInputs(); ++i) {
        (i < firstInput + numStates ? states : scans).push_back(ctx.input(i));
    }
    if (ctx.opset() >= 9) {
        std::vector<Tensor> finals;
        std::vector<Tensor> outs;
        KILN_RETURN_IF_ERROR(runScan(ctx, *body, states, scans, finals, outs));
        for (size_t i = 0; i < finals.size(); ++i) ctx.outputs[i] = finals[i];
        for (size_t i = 0; i < outs.size(); ++i) ctx.outputs[numStates + i] = outs[i];
        return Status::ok();
    }
    // Scan-8: leading batch axis on every input; each batch element is scanned on its own.
    if (ctx.hasInput(0)) return unsupported("Scan-8 sequence_lens is not supported");
    const int64_t batch = (states.empty() ? scans[0] : states[0]).dim(0);
    std::vector<std::vector<Tensor>> finalsPerBatch;
    std::vector<std::vector<Tensor>> outsPerBatch;
    for (int64_t b = 0; b < batch; ++b) {
        std::vector<Tensor> st;
        std::vector<Tensor> sc;
        for (const auto& s : states) st.push_back(sliceAlong(s, 0, b));
        for (const auto& s : scans) sc.push_back(sliceAlong(s, 0, b));
        std::vector<Tensor> finals;
        std::vector<Tensor> outs;
        KILN_RETURN_IF_ERROR(runScan(ctx, *body, st, sc, finals, outs));
        finalsPerBatch.push_back(std::move(finals));
        outsPerBatch.push_back(std::move(outs));
    }
    auto gather = [&](std::vector<std::vector<Tensor>>& perBatch, size_t k) -> Result<Tensor> {
        std::vector<Tensor> parts;
        for (auto& v : perBatch) parts.push_back(v[k]);
        return stackAlong(parts, 0, parts[0].dtype(), parts[0].shape());
    };
    for (size_t i = 0; i < numStates; ++i) {
        KILN_ASSIGN_OR_RETURN(ctx.outputs[i], gather(finalsPerBatch, i));
    }
    for (size_t i = 0; i + numStates < ctx.numOutputs(); ++i) {
        KILN_ASSIGN_OR_RETURN(ctx.outputs[numStates + i], gather(outsPerBatch, i));
    }
    return Status::ok();
}

}  // namespace kiln::cpu
