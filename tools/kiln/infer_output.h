// `kiln infer`: one run of the engine and the report of its outputs, image by image (postprocess.h has the kinds).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "image.h"
#include "kiln/kiln.h"

namespace kiln::cli {

//! One real image of a batch (rows added to fill a fixed batch have no Item: their results are not reported).
struct Item {
    std::string path;
    std::string stem;  //!< File names of its outputs start with this.
    const examples::Image* photo = nullptr;
};

struct OutputOptions {
    std::string maskDir;
    std::string saveDir;
    bool cutout = false;
    int topK = 5;
    std::vector<std::string> labels;
    std::map<std::string, std::string> kinds;  //!< Outputs to report (name → kind or ""); empty: all.
};

//! "output:mask,logits" → {{"output", "mask"}, {"logits", ""}}.
Result<std::vector<std::pair<std::string, std::string>>> parseNameKinds(const std::string& text);

//! Runs `engine` on `feeds` and reports batch rows 0..items.size()-1, or the whole outputs when `items` is empty
//! (inputs from files only). Fails naming an output that --outputs asks for and the engine lacks, or a file it
//! cannot write.
Status reportBatch(const Engine& engine, const std::map<std::string, Tensor>& feeds, const std::vector<Item>& items,
                   const OutputOptions& options);

}  // namespace kiln::cli
