// Images → one input tensor for `kiln infer`: resize (Pillow-exact bilinear, stretched to the model's size),
// normalization value = (pixel * scale - mean) / std per channel, RGB or BGR order, NCHW or NHWC layout.
//
// The settings come from, in increasing priority: the defaults (ImageNet: scale 1/255, mean 0.485,0.456,0.406,
// std 0.229,0.224,0.225, RGB, layout from the input's shape), a JSON file next to the model (`<model file>.json`,
// e.g. isnet.engine.json, or --config FILE), then the flags. The JSON keys (all optional):
//
//   {
//     "input": "input",                 // the image input (default: the first 4-D input)
//     "size": [1024, 1024],             // width, height for inputs with dynamic H/W (default: the profile's opt)
//     "scale": 1.0,                     // pixels (0..255) are multiplied by this first
//     "mean": [128, 128, 128],          // then the mean is subtracted...
//     "std": [256, 256, 256],           // ...and the result divided by std (one value or one per channel)
//     "channel_order": "RGB",           // or "BGR" (OpenCV-trained models)
//     "layout": "NCHW",                 // or "NHWC" (default: NHWC when the last dim is 1 or 3, else NCHW)
//     "labels": "imagenet_labels.txt",  // class names, one per line (relative to the JSON file)
//     "top_k": 5,
//     "outputs": {"output": "mask"}     // report only these outputs, each as "classes", "mask", "classmap",
//                                       // or "tensor" (default: every output, kind from its shape)
//   }
#pragma once

#include <map>
#include <string>
#include <vector>

#include "image.h"
#include "kiln/kiln.h"

namespace kiln::cli {

struct Preprocess {
    std::string input;
    int width = 0;  //!< 0: from the engine (static dims or the profile's opt shape).
    int height = 0;
    float scale = 1.0F / 255.0F;
    std::vector<float> mean{0.485F, 0.456F, 0.406F};
    std::vector<float> stdev{0.229F, 0.224F, 0.225F};
    bool bgr = false;
    std::string layout;  //!< "NCHW", "NHWC" or empty (from the shape).
    std::string labels;
    int topK = 5;
    std::map<std::string, std::string> outputs;  //!< name → kind; empty: all outputs, kind from the shape.
};

//! Reads the JSON settings into `p` (keys above; unknown keys are an error naming them, so typos do not pass).
Status loadPreprocessConfig(const std::string& path, Preprocess& p);

//! Where an image input's dims are: batch, channels, height, width positions in the shape.
struct ImageLayout {
    bool nhwc = false;
    int channels = 3;
};
//! Checks the input is a 4-D float tensor with 1 or 3 channels and decides its layout.
Result<ImageLayout> imageLayoutOf(const Shape& shape, const std::string& input, const std::string& layoutFlag);

//! The batch tensor: `images` resized to width x height and normalized; images[i] goes to batch row i.
Result<Tensor> imagesToTensor(const std::vector<const examples::Image*>& images, DataType dtype,
                              const ImageLayout& layout, int width, int height, const Preprocess& p);

}  // namespace kiln::cli
