#include "infer_output.h"

#include <cstdio>
#include <filesystem>

#include "files.h"
#include "inputs.h"
#include "postprocess.h"
#include "shapes.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

std::string joinPath(const std::string& dir, const std::string& file) { return (fs::path(dir) / file).string(); }

struct Reporter {
    const OutputOptions& o;
    size_t maskOutputs = 0;

    //! "cat_mask.png" with one mask output, "cat.output.png" with several.
    std::string imageName(const std::string& stem, const std::string& output, const char* suffix) const {
        return maskOutputs <= 1 ? stem + "_" + suffix + ".png"
                                : stem + "." + examples::fileSafeName(output) + "_" + suffix + ".png";
    }

    Status report(const std::string& name, const Tensor& t, OutputKind kind, const Item* item) {
        const std::string stem = item ? item->stem : "output";
        switch (kind) {
            case OutputKind::kClasses:
                for (int64_t r = 0; r < t.dim(0); ++r) {
                    std::printf("  %s: top %d\n%s", name.c_str(), o.topK, describeTopK(t, r, o.topK, o.labels).c_str());
                }
                break;
            case OutputKind::kMask:
            case OutputKind::kClassMap: {
                const Shape& s = t.shape();
                const int width = item ? item->photo->width : static_cast<int>(s.back());
                const int height = item ? item->photo->height : static_cast<int>(s[s.size() - 2]);
                std::printf("  %s: %s %s", name.c_str(), outputKindName(kind), describeTensor(t).c_str());
                if (o.maskDir.empty()) {
                    std::printf(" (--mask-dir DIR writes it as PNG)\n");
                    break;
                }
                auto img =
                    kind == OutputKind::kMask ? maskImage(t, 0, width, height) : classMapImage(t, 0, width, height);
                if (!img) return img.status().withContext("output '" + name + "'");
                const std::string path =
                    joinPath(o.maskDir, imageName(stem, name, kind == OutputKind::kMask ? "mask" : "classes"));
                KILN_RETURN_IF_ERROR(examples::writePng(path, *img));
                std::printf(" -> %s", path.c_str());
                if (o.cutout && item && kind == OutputKind::kMask) {
                    const std::string cut = joinPath(o.maskDir, imageName(stem, name, "cutout"));
                    KILN_RETURN_IF_ERROR(examples::writePng(cut, examples::cutout(*item->photo, *img)));
                    std::printf(", %s", cut.c_str());
                }
                std::printf("\n");
                break;
            }
            case OutputKind::kTensor: std::printf("  %s: %s\n", name.c_str(), describeTensor(t).c_str()); break;
        }
        if (!o.saveDir.empty()) {
            const std::string path = joinPath(o.saveDir, stem + "." + examples::fileSafeName(name) + ".npy");
            KILN_RETURN_IF_ERROR(writeNpy(path, t));
            std::printf("  %s: saved %s\n", name.c_str(), path.c_str());
        }
        return Status::ok();
    }
};

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> parseNameKinds(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const std::string& item : splitList(text)) {
        const size_t colon = item.rfind(':');
        const std::string name = colon == std::string::npos ? item : item.substr(0, colon);
        const std::string kind = colon == std::string::npos ? "" : item.substr(colon + 1);
        if (name.empty()) return invalidArgument("--outputs '" + text + "': an empty output name");
        KILN_RETURN_IF_ERROR(
            outputKindOf({}, DataType::kFloat32, kind).status().withContext("--outputs '" + text + "'"));
        out.emplace_back(name, kind);
    }
    return out;
}

Status reportBatch(const Engine& engine, const std::map<std::string, Tensor>& feeds, const std::vector<Item>& items,
                   const OutputOptions& o) {
    std::map<std::string, Shape> shapes;
    for (const auto& [name, t] : feeds) shapes[name] = t.shape();
    KILN_ASSIGN_OR_RETURN(InputPlan plan, planInputs(engine, shapes));
    for (const std::string& name : plan.inputs) {
        if (!feeds.count(name))
            return invalidArgument("input '" + name + "' needs a value: --input " + name + ":file.npy");
    }
    KILN_ASSIGN_OR_RETURN(auto context, makeContext(engine, plan));
    KILN_ASSIGN_OR_RETURN(auto outputs, context->infer(feeds));
    std::vector<std::pair<std::string, OutputKind>> reported;
    for (const std::string& name : plan.outputs) {
        auto want = o.kinds.find(name);
        if (!o.kinds.empty() && want == o.kinds.end()) continue;
        const Tensor& t = outputs.at(name);
        KILN_ASSIGN_OR_RETURN(OutputKind kind,
                              outputKindOf(t.shape(), t.dtype(), want == o.kinds.end() ? "" : want->second));
        reported.emplace_back(name, kind);
    }
    for (const auto& [name, kind] : o.kinds) {
        if (!outputs.count(name))
            return notFound("--outputs names '" + name + "', which is not an output of the engine");
    }
    Reporter reporter{o};
    for (const auto& [name, kind] : reported) reporter.maskOutputs += kind == OutputKind::kMask ? 1 : 0;
    if (items.empty()) {
        for (const auto& [name, kind] : reported)
            KILN_RETURN_IF_ERROR(reporter.report(name, outputs.at(name), kind, nullptr));
        return Status::ok();
    }
    const int64_t batch = batchOf(plan);
    for (size_t r = 0; r < items.size(); ++r) {
        std::printf("%s\n", items[r].path.c_str());
        for (const auto& [name, kind] : reported) {
            const Tensor& t = outputs.at(name);
            const bool batched = t.rank() >= 1 && t.dim(0) == batch;
            KILN_RETURN_IF_ERROR(
                reporter.report(name, batched ? examples::batchRow(t, static_cast<int64_t>(r)) : t, kind, &items[r]));
        }
    }
    return Status::ok();
}

}  // namespace kiln::cli
