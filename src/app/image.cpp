#include "app/image.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <csetjmp>
#include <filesystem>
#include <fstream>
#include <vector>

#include <png.h>

#include "util/error.h"

namespace nin::app {
namespace {

constexpr int64_t kMaxSide = 1 << 15;  // pixels; larger images are surely not FashionMNIST-like

bool ends_with(std::string s, const std::string& suffix) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// libpng reports errors through a callback that must not return: it keeps the message
// here and longjmps back to the setjmp in PngReader's current step.
struct PngError {
  char message[256] = "unknown error";
};

[[noreturn]] void on_png_error(png_structp png, png_const_charp msg) {
  auto* error = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(error->message, sizeof error->message, "%s", msg);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // e.g. a bad colour profile: harmless here

// libpng's read structs and the file, freed on every path. Each step that calls libpng
// sets its own jump target and holds only plain locals, so a longjmp skips no destructor.
class PngReader {
 public:
  PngReader() = default;
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
  ~PngReader() {
    if (png_) png_destroy_read_struct(&png_, info_ ? &info_ : nullptr, nullptr);
    if (file_) std::fclose(file_);
  }

  // Opens `path` and checks the 8-byte PNG signature; false with message() set otherwise.
  bool open(const std::string& path) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) return fail("image not found or not readable");
    png_byte signature[8] = {};
    if (std::fread(signature, 1, sizeof signature, file_) != sizeof signature ||
        png_sig_cmp(signature, 0, sizeof signature) != 0)
      return fail("not a PNG image (bad signature)");
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error_, on_png_error, on_png_warning);
    if (png_) info_ = png_create_info_struct(png_);
    if (!png_ || !info_) return fail("libpng could not allocate its read structures");
    return true;
  }

  // Reads the header and sets the transforms to 8-bit gray; the size of the result.
  bool read_header(png_uint_32& width, png_uint_32& height) {
    if (setjmp(png_jmpbuf(png_))) return false;
    png_init_io(png_, file_);
    png_set_sig_bytes(png_, 8);
    png_set_user_limits(png_, kMaxSide, kMaxSide);
    png_read_info(png_, info_);
    const png_byte color = png_get_color_type(png_, info_);
    const png_byte depth = png_get_bit_depth(png_, info_);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png_);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png_);
    if (depth == 16) png_set_scale_16(png_);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png_);
    if (color & PNG_COLOR_MASK_COLOR) {
      // ITU-R 601 luma (red, green in 1/100000; blue is the rest), as PIL and torchvision.
      png_set_rgb_to_gray_fixed(png_, PNG_ERROR_ACTION_NONE, 29900, 58700);
    }
    png_set_interlace_handling(png_);
    png_read_update_info(png_, info_);
    if (png_get_channels(png_, info_) != 1 || png_get_bit_depth(png_, info_) != 8 ||
        png_get_rowbytes(png_, info_) != png_get_image_width(png_, info_))
      png_error(png_, "cannot convert this PNG to 8-bit grayscale");
    width = png_get_image_width(png_, info_);
    height = png_get_image_height(png_, info_);
    return true;
  }

  // Decodes every row into `rows` (one pointer per row, `width` bytes each).
  bool read_rows(png_bytepp rows) {
    if (setjmp(png_jmpbuf(png_))) return false;
    png_read_image(png_, rows);
    png_read_end(png_, nullptr);
    return true;
  }

  const char* message() const { return error_.message; }

 private:
  bool fail(const char* message) {
    std::snprintf(error_.message, sizeof error_.message, "%s", message);
    return false;
  }

  std::FILE* file_ = nullptr;
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
  PngError error_;
};

}  // namespace

// InputError for a path that exists but is no regular file (a FIFO, device or folder).
static void require_regular_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    throw InputError(path + ": image is not a regular file (a FIFO, device or folder); refused");
}

bool is_image_file(const std::string& path) { return ends_with(path, ".pgm") || ends_with(path, ".png"); }

torch::Tensor read_image(const std::string& path) {
  require_regular_file(path);  // before opening: opening a FIFO would block
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": image not found or not readable");
  char head[2] = {};
  in.read(head, 2);
  if (in.gcount() == 2 && head[0] == 'P' && (head[1] == '5' || head[1] == '2')) return read_pgm(path);
  if (in.gcount() == 2 && static_cast<unsigned char>(head[0]) == 0x89 && head[1] == 'P') return read_png(path);
  throw InputError(path + ": not a PGM or PNG image");
}

torch::Tensor read_pgm(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": image not found or not readable");
  std::string magic;
  in >> magic;
  if (magic != "P5" && magic != "P2") throw InputError(path + ": not a PGM image (expected P5 or P2 header)");
  auto next_int = [&]() {  // skips whitespace and # comments; -1 when there is no number
    in >> std::ws;
    while (in.peek() == '#') in.ignore(1 << 20, '\n') >> std::ws;
    int64_t v = -1;
    if (!(in >> v)) return int64_t{-1};
    return v;
  };
  const int64_t w = next_int(), h = next_int(), maxval = next_int();
  if (w <= 0 || h <= 0 || maxval <= 0) throw InputError(path + ": bad PGM header (width, height, maxval)");
  if (maxval > 255) throw InputError(path + ": 16-bit PGM is not supported (8-bit grayscale only)");
  if (w > kMaxSide || h > kMaxSide)
    throw InputError(path + ": image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels is too large");
  // The pixels must be in the file before they are allocated: a header alone asks for 1 GiB.
  // P5: a byte each; P2: a digit and a separator each (the last separator may be missing).
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const auto at = static_cast<uintmax_t>(std::max<std::streamoff>(in.tellg(), 0));
  const uintmax_t needed = magic == "P5" ? uintmax_t(w * h) + 1 : 2 * uintmax_t(w * h) - 1;
  if (ec || size < at || size - at < needed)
    throw InputError(path + ": truncated PGM data (" + std::to_string(w) + "x" + std::to_string(h) +
                     " pixels announced, " + std::to_string(ec ? 0 : size - std::min<uintmax_t>(size, at)) +
                     " bytes follow the header)");
  auto img = torch::empty({h, w}, torch::kUInt8);
  auto* p = img.data_ptr<uint8_t>();
  if (magic == "P5") {
    in.get();  // the single whitespace byte after maxval
    in.read(reinterpret_cast<char*>(p), w * h);
    if (in.gcount() != w * h) throw InputError(path + ": truncated PGM data");
    if (maxval != 255)
      for (int64_t i = 0; i < w * h; ++i) p[i] = static_cast<uint8_t>(std::min<int64_t>(p[i], maxval) * 255 / maxval);
  } else {
    for (int64_t i = 0; i < w * h; ++i) {
      const int64_t v = next_int();
      if (v < 0 || v > maxval) throw InputError(path + ": truncated PGM data or a value above maxval");
      p[i] = static_cast<uint8_t>(v * 255 / maxval);
    }
  }
  return img;
}

torch::Tensor read_png(const std::string& path) {
  require_regular_file(path);
  PngReader reader;
  png_uint_32 width = 0, height = 0;
  if (!reader.open(path)) throw InputError(path + ": " + reader.message());
  if (!reader.read_header(width, height)) throw InputError(path + ": bad or truncated PNG: " + reader.message());
  auto img = torch::empty({int64_t{height}, int64_t{width}}, torch::kUInt8);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 r = 0; r < height; ++r) rows[r] = img.data_ptr<uint8_t>() + int64_t{r} * width;
  if (!reader.read_rows(rows.data())) throw InputError(path + ": bad or truncated PNG: " + reader.message());
  return img;
}

}  // namespace nin::app
