// Detection post-processing: NonMaxSuppression and RoiAlign (onnxruntime's semantics, which the ONNX tests encode).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backends/cpu/indexing.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

struct Box {
    float xMin, yMin, xMax, yMax;
};

Box readBox(const float* b, bool centerPoint) {
    if (centerPoint) {  // [x_center, y_center, width, height]
        const float hw = b[2] / 2;
        const float hh = b[3] / 2;
        return {b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh};
    }
    // [y1, x1, y2, x2] with either diagonal pair of corners.
    return {std::min(b[1], b[3]), std::min(b[0], b[2]), std::max(b[1], b[3]), std::max(b[0], b[2])};
}

bool suppressedByIou(const Box& a, const Box& b, float iouThreshold) {
    const float ixMin = std::max(a.xMin, b.xMin);
    const float ixMax = std::min(a.xMax, b.xMax);
    if (ixMax <= ixMin) return false;
    const float iyMin = std::max(a.yMin, b.yMin);
    const float iyMax = std::min(a.yMax, b.yMax);
    if (iyMax <= iyMin) return false;
    const float intersection = (ixMax - ixMin) * (iyMax - iyMin);
    if (intersection <= 0) return false;
    const float areaA = (a.xMax - a.xMin) * (a.yMax - a.yMin);
    const float areaB = (b.xMax - b.xMin) * (b.yMax - b.yMin);
    const float unionArea = areaA + areaB - intersection;
    if (areaA <= 0 || areaB <= 0 || unionArea <= 0) return false;
    return intersection / unionArea > iouThreshold;
}

Result<float> optionalFloatScalar(const KernelContext& ctx, size_t i, const char* what, float fallback) {
    if (!ctx.hasInput(i)) return fallback;
    const Tensor& t = ctx.input(i);
    if (!isFloatingPoint(t.dtype()) || t.numel() != 1 || t.rank() > 1) {
        return invalidArgument(std::string(what) + " must be a float scalar or 1-element tensor, got " + t.describe());
    }
    return static_cast<float>(t.getDouble(0));
}

}  // namespace

Status kernelNonMaxSuppression(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 5));
    const Tensor& boxesT = ctx.input(0);
    const Tensor& scoresT = ctx.input(1);
    KILN_CHECK_ARG(
        boxesT.dtype() == DataType::kFloat32 && scoresT.dtype() == DataType::kFloat32,
        "inputs 'boxes' and 'scores' must be float32, got " + boxesT.describe() + " and " + scoresT.describe());
    KILN_CHECK_ARG(boxesT.rank() == 3 && boxesT.dim(2) == 4,
                   "input 0 'boxes' must have shape (batches, boxes, 4), got " + shapeToString(boxesT.shape()));
    KILN_CHECK_ARG(scoresT.rank() == 3 && scoresT.dim(0) == boxesT.dim(0) && scoresT.dim(2) == boxesT.dim(1),
                   "input 1 'scores' must have shape (batches, classes, boxes) matching boxes " +
                       shapeToString(boxesT.shape()) + ", got " + shapeToString(scoresT.shape()));
    int64_t maxPerClass = 0;
    if (ctx.hasInput(2)) {
        KILN_ASSIGN_OR_RETURN(maxPerClass, readScalarInt(ctx.input(2), "input 2 'max_output_boxes_per_class'"));
    }
    KILN_ASSIGN_OR_RETURN(float iouThreshold, optionalFloatScalar(ctx, 3, "input 3 'iou_threshold'", 0.0F));
    KILN_CHECK_ARG(iouThreshold >= 0 && iouThreshold <= 1,
                   "input 3 'iou_threshold' must be in [0, 1], got " + std::to_string(iouThreshold));
    const bool hasScoreThreshold = ctx.hasInput(4);
    KILN_ASSIGN_OR_RETURN(float scoreThreshold, optionalFloatScalar(ctx, 4, "input 4 'score_threshold'", 0.0F));
    const int64_t cp = ctx.attrs().getInt("center_point_box", 0);
    KILN_CHECK_ARG(cp == 0 || cp == 1, "attribute 'center_point_box' must be 0 or 1, got " + std::to_string(cp));

    const int64_t batches = boxesT.dim(0);
    const int64_t numBoxes = boxesT.dim(1);
    const int64_t classes = scoresT.dim(1);
    std::vector<int64_t> selected;  // triples (batch, class, box)
    if (maxPerClass > 0) {
        std::vector<Box> boxes(static_cast<size_t>(numBoxes));
        std::vector<int64_t> candidates;
        std::vector<int64_t> kept;
        for (int64_t b = 0; b < batches; ++b) {
            const float* bd = boxesT.data<float>() + b * numBoxes * 4;
            for (int64_t i = 0; i < numBoxes; ++i) boxes[static_cast<size_t>(i)] = readBox(bd + i * 4, cp == 1);
            for (int64_t c = 0; c < classes; ++c) {
                const float* sc = scoresT.data<float>() + (b * classes + c) * numBoxes;
                candidates.clear();
                for (int64_t i = 0; i < numBoxes; ++i) {
                    if (!hasScoreThreshold || sc[i] > scoreThreshold) candidates.push_back(i);
                }
                // Highest score first; equal scores keep the lower box index first.
                std::stable_sort(candidates.begin(), candidates.end(),
                                 [&](int64_t l, int64_t r) { return sc[l] > sc[r]; });
                kept.clear();
                for (int64_t i : candidates) {
                    if (static_cast<int64_t>(kept.size()) >= maxPerClass) break;
                    const Box& box = boxes[static_cast<size_t>(i)];
                    const bool suppressed = std::any_of(kept.begin(), kept.end(), [&](int64_t k) {
                        return suppressedByIou(boxes[static_cast<size_t>(k)], box, iouThreshold);
                    });
                    if (suppressed) continue;
                    kept.push_back(i);
                    selected.insert(selected.end(), {b, c, i});
                }
            }
        }
    }
    const auto count = static_cast<int64_t>(selected.size() / 3);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kInt64, {count, 3}));
    std::copy(selected.begin(), selected.end(), y->data<int64_t>());
    return Status::ok();
}

Status kernelRoiAlign(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const Tensor& x = ctx.input(0);
    const Tensor& rois = ctx.input(1);
    const Tensor& batchIndices = ctx.input(2);
    KILN_CHECK_ARG(x.rank() == 4, "input 0 'X' must be 4-D (N, C, H, W), got shape " + shapeToString(x.shape()));
    KILN_CHECK_ARG(rois.dtype() == x.dtype(), "input 1 'rois' dtype " + std::string(dataTypeName(rois.dtype())) +
                                                  " differs from X dtype " + dataTypeName(x.dtype()));
    KILN_CHECK_ARG(rois.rank() == 2 && rois.dim(1) == 4,
                   "input 1 'rois' must have shape (num_rois, 4), got " + shapeToString(rois.shape()));
    KILN_CHECK_ARG(batchIndices.rank() == 1 && batchIndices.dim(0) == rois.dim(0),
                   "input 2 'batch_indices' must have shape (" + std::to_string(rois.dim(0)) + "), got " +
                       shapeToString(batchIndices.shape()));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> batch, readIndexTensor(batchIndices, "input 2 'batch_indices'"));
    const auto& a = ctx.attrs();
    const std::string modeName = a.getString("mode", "avg");
    KILN_CHECK_ARG(modeName == "avg" || modeName == "max",
                   "attribute 'mode' must be avg or max, got '" + modeName + "'");
    const bool maxMode = modeName == "max";
    const int64_t outH = a.getInt("output_height", 1);
    const int64_t outW = a.getInt("output_width", 1);
    const int64_t samplingRatio = a.getInt("sampling_ratio", 0);
    const float spatialScale = a.getFloat("spatial_scale", 1.0F);
    KILN_CHECK_ARG(outH > 0 && outW > 0, "attributes 'output_height'/'output_width' must be positive, got " +
                                             std::to_string(outH) + "x" + std::to_string(outW));
    KILN_CHECK_ARG(samplingRatio >= 0, "attribute 'sampling_ratio' must be >= 0, got " + std::to_string(samplingRatio));
    // Opset 10 had no coordinate_transformation_mode and behaved as output_half_pixel.
    const std::string ctm =
        ctx.opset() >= 16 ? a.getString("coordinate_transformation_mode", "half_pixel") : "output_half_pixel";
    KILN_CHECK_ARG(
        ctm == "half_pixel" || ctm == "output_half_pixel",
        "attribute 'coordinate_transformation_mode' must be half_pixel or output_half_pixel, got '" + ctm + "'");
    const bool halfPixel = ctm == "half_pixel";
    const int64_t n = x.dim(0);
    const int64_t channels = x.dim(1);
    const int64_t height = x.dim(2);
    const int64_t width = x.dim(3);
    const int64_t numRois = rois.dim(0);
    for (int64_t r = 0; r < numRois; ++r) {
        if (batch[static_cast<size_t>(r)] < 0 || batch[static_cast<size_t>(r)] >= n) {
            return invalidArgument("input 2 'batch_indices' value " + std::to_string(batch[static_cast<size_t>(r)]) +
                                   " is out of range [0, " + std::to_string(n) + ")");
        }
    }
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), {numRois, channels, outH, outW}));
    if (y->numel() == 0) return Status::ok();
    KILN_CHECK_ARG(height > 0 && width > 0, "input 0 'X' has empty spatial dims " + shapeToString(x.shape()));
    return dispatchFloat(x.dtype(), [&]<typename T>() {
        using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
        const T* xd = x.data<T>();
        const T* rd = rois.data<T>();
        T* yd = y->data<T>();
        struct Sample {
            int64_t pos[4];
            F w[4];
        };
        std::vector<Sample> samples;
        for (int64_t r = 0; r < numRois; ++r) {
            const F offset = halfPixel ? F(0.5) : F(0);
            const F startW = static_cast<F>(rd[r * 4 + 0]) * static_cast<F>(spatialScale) - offset;
            const F startH = static_cast<F>(rd[r * 4 + 1]) * static_cast<F>(spatialScale) - offset;
            const F endW = static_cast<F>(rd[r * 4 + 2]) * static_cast<F>(spatialScale) - offset;
            const F endH = static_cast<F>(rd[r * 4 + 3]) * static_cast<F>(spatialScale) - offset;
            F roiW = endW - startW;
            F roiH = endH - startH;
            if (!halfPixel) {  // legacy behaviour: force malformed rois to be at least 1x1
                roiW = std::max(roiW, F(1));
                roiH = std::max(roiH, F(1));
            }
            const F binH = roiH / static_cast<F>(outH);
            const F binW = roiW / static_cast<F>(outW);
            const F gridHF = samplingRatio > 0 ? F(samplingRatio) : std::ceil(roiH / static_cast<F>(outH));
            const F gridWF = samplingRatio > 0 ? F(samplingRatio) : std::ceil(roiW / static_cast<F>(outW));
            // Degenerate or huge rois: keep the per-bin sample grid finite and bounded.
            const auto gridH =
                std::isfinite(gridHF) ? std::clamp<int64_t>(static_cast<int64_t>(gridHF), 0, 1 << 16) : 0;
            const auto gridW =
                std::isfinite(gridWF) ? std::clamp<int64_t>(static_cast<int64_t>(gridWF), 0, 1 << 16) : 0;
            const F count = static_cast<F>(std::max<int64_t>(gridH * gridW, 1));
            if (static_cast<double>(outH * outW) * static_cast<double>(gridH * gridW) > double(1 << 26)) {
                return unsupported("RoiAlign roi " + std::to_string(r) + " needs more than 2^26 samples");
            }
            samples.assign(static_cast<size_t>(outH * outW * gridH * gridW), Sample{});
            size_t s = 0;
            for (int64_t ph = 0; ph < outH; ++ph) {
                for (int64_t pw = 0; pw < outW; ++pw) {
                    for (int64_t iy = 0; iy < gridH; ++iy) {
                        const F yy = startH + static_cast<F>(ph) * binH +
                                     (static_cast<F>(iy) + F(0.5)) * binH / static_cast<F>(gridH);
                        for (int64_t ix = 0; ix < gridW; ++ix, ++s) {
                            const F xx = startW + static_cast<F>(pw) * binW +
                                         (static_cast<F>(ix) + F(0.5)) * binW / static_cast<F>(gridW);
                            F yv = yy;
                            F xv = xx;
                            Sample& sm = samples[s];
                            if (!(yv >= -1 && yv <= static_cast<F>(height) && xv >= -1 &&
                                  xv <= static_cast<F>(width))) {
                                continue;  // outside the feature map: contributes zero
                            }
                            yv = std::max(yv, F(0));
                            xv = std::max(xv, F(0));
                            auto yLow = static_cast<int64_t>(yv);
                            auto xLow = static_cast<int64_t>(xv);
                            int64_t yHigh;
                            int64_t xHigh;
                            if (yLow >= height - 1) {
                                yHigh = yLow = height - 1;
                                yv = static_cast<F>(yLow);
                            } else {
                                yHigh = yLow + 1;
                            }
                            if (xLow >= width - 1) {
                                xHigh = xLow = width - 1;
                                xv = static_cast<F>(xLow);
                            } else {
                                xHigh = xLow + 1;
                            }
                            const F ly = yv - static_cast<F>(yLow);
                            const F lx = xv - static_cast<F>(xLow);
                            const F hy = F(1) - ly;
                            const F hx = F(1) - lx;
                            sm = Sample{{yLow * width + xLow, yLow * width + xHigh, yHigh * width + xLow,
                                         yHigh * width + xHigh},
                                        {hy * hx, hy * lx, ly * hx, ly * lx}};
                        }
                    }
                }
            }
            const int64_t perBin = gridH * gridW;
            for (int64_t c = 0; c < channels; ++c) {
                const T* img = xd + (batch[static_cast<size_t>(r)] * channels + c) * height * width;
                T* out = yd + ((r * channels) + c) * outH * outW;
                for (int64_t bin = 0; bin < outH * outW; ++bin) {
                    F acc = 0;
                    for (int64_t k = 0; k < perBin; ++k) {
                        const Sample& sm = samples[static_cast<size_t>(bin * perBin + k)];
                        F v[4];
                        for (int j = 0; j < 4; ++j) v[j] = sm.w[j] * static_cast<F>(img[sm.pos[j]]);
                        if (maxMode) {
                            // onnxruntime's max mode: the largest weighted corner of each sample.
                            const F m = std::max(std::max(std::max(v[0], v[1]), v[2]), v[3]);
                            acc = k == 0 ? m : std::max(acc, m);
                        } else {
                            acc += v[0] + v[1] + v[2] + v[3];
                        }
                    }
                    out[bin] = fromCompute<T>(maxMode ? acc : acc / count);
                }
            }
        }
        return Status::ok();
    });
}

}  // namespace kiln::cpu
