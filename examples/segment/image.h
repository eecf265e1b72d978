// Image files and resampling for the segmentation example.
//
// Resizing reproduces Pillow's Image.resize(..., Image.BILINEAR) exactly for 8-bit images, because the reference data
// in tests/models/ was made with Pillow (tests/models/images.py): the example then feeds the model bit for bit the
// tensor the reference outputs were computed from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::examples {

//! 8-bit image: rows top to bottom, channels interleaved (1 gray, 3 RGB, 4 RGBA).
struct Image {
    int width = 0;
    int height = 0;
    int channels = 0;
    std::vector<uint8_t> pixels;
};

//! One float channel, row-major.
struct Plane {
    int width = 0;
    int height = 0;
    std::vector<float> values;
};

//! Reads any format stb_image knows (JPEG, PNG, BMP, ...) as 8-bit RGB. An alpha channel is dropped and EXIF
//! orientation is not applied. Errors name the file and say why (missing, unknown format, corrupt).
Result<Image> readRgbImage(const std::string& path);

//! Writes an 8-bit PNG of 1, 3 or 4 channels, creating the parent folder if needed.
Status writePng(const std::string& path, const Image& image);

//! Pillow's BILINEAR resize of an 8-bit image, bit-identical: a triangle filter whose support widens with the
//! shrink factor (so shrinking antialiases), applied separably, horizontal pass first, in 22-bit fixed point.
Image resizeBilinear(const Image& src, int width, int height);

//! The same filter on a float plane, accumulated in double as Pillow does for mode "F" images.
Plane resizeBilinear(const Plane& src, int width, int height);

//! The photo (RGB) with `alpha` (gray, the photo's size) as its alpha channel: an RGBA cut-out.
Image cutout(const Image& photo, const Image& alpha);

//! Pillow's RGB → L conversion (ITU-R 601-2 luma in 16-bit fixed point).
Image toGray(const Image& rgb);

}  // namespace kiln::examples
