// Single images for `nin-dist predict`: PGM and PNG files read as 8-bit grayscale.
#pragma once

#include <string>

#include <torch/types.h>

namespace nin::app {

// True for names ending in .pgm or .png (any case): the files read_image takes.
bool is_image_file(const std::string& path);

// Reads a PGM or PNG file, told apart by its first bytes, as [H, W] uint8 of any size.
// A missing, truncated or unsupported file is an InputError naming it.
torch::Tensor read_image(const std::string& path);

// Binary (P5) or plain (P2) PGM, maxval up to 255 (scaled to 0..255).
torch::Tensor read_pgm(const std::string& path);

// Any PNG: palette, RGB, 1-16 bit and interlaced images are converted to 8-bit gray
// (RGB with the ITU-R 601 weights, as PIL's convert("L") and torchvision's Grayscale);
// an alpha channel is dropped.
torch::Tensor read_png(const std::string& path);

}  // namespace nin::app
