// The safetensors header parser: valid headers, every corruption named in the issue, and a fuzzer.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "executor/weights/safetensors_header.h"
#include "planner/error.h"

namespace zeroplan::executor {
namespace {

// [u64 header length][header][data_size zero bytes]
std::vector<unsigned char> image(const std::string& header, std::uint64_t data_size, std::uint64_t claimed_len = ~0ull) {
  const std::uint64_t n = claimed_len == ~0ull ? header.size() : claimed_len;
  std::vector<unsigned char> out(8 + header.size() + data_size, 0);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

StHeader parse(const std::vector<unsigned char>& img) {
  std::uint64_t off = 0;
  return parse_safetensors_image(img.data(), img.size(), "dir/model.safetensors", &off);
}

// Expects an InputError whose message contains every fragment.
void expect_error(const std::string& header, std::uint64_t data_size, std::vector<std::string> fragments) {
  try {
    parse(image(header, data_size));
    ADD_FAILURE() << "no error for header " << header;
  } catch (const zeroplan::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dir/model.safetensors"), std::string::npos) << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

const char* kValid =
    R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]},)"
    R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

TEST(SafetensorsHeader, ParsesValidHeader) {
  std::uint64_t off = 0;
  auto img = image(std::string(kValid) + "   ", 28);
  StHeader h = parse_safetensors_image(img.data(), img.size(), "f", &off);
  EXPECT_EQ(off, 8 + std::strlen(kValid) + 3);
  ASSERT_EQ(h.tensors.size(), 2u);
  const StTensorInfo* a = h.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, StDtype::kF32);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a->begin_bytes, 0u);
  EXPECT_EQ(a->end_bytes, 24u);
  EXPECT_EQ(h.find("b")->dtype, StDtype::kBF16);
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.find("c"), nullptr);
}

TEST(SafetensorsHeader, ScalarAndEmptyTensors) {
  auto h = parse(image(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                       R"("e":{"dtype":"F16","shape":[0,5],"data_offsets":[4,4]}})",
                       4));
  EXPECT_EQ(h.find("s")->numel(), 1);
  EXPECT_EQ(h.find("e")->numel(), 0);
}

TEST(SafetensorsHeader, HeaderLengthBeyondFile) {
  auto img = image(kValid, 28, /*claimed_len=*/10000);
  std::uint64_t off = 0;
  EXPECT_THROW(parse_safetensors_image(img.data(), img.size(), "f", &off), zeroplan::InputError);
  try {
    parse_safetensors_image(img.data(), img.size(), "dir/x.safetensors", &off);
  } catch (const zeroplan::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("runs past the end"), std::string::npos) << e.what();
  }
  auto huge = image(kValid, 28, /*claimed_len=*/~0ull - 1);
  EXPECT_THROW(parse_safetensors_image(huge.data(), huge.size(), "f", &off), zeroplan::InputError);
}

TEST(SafetensorsHeader, TooShortFile) {
  std::vector<unsigned char> tiny{1, 0, 0};
  std::uint64_t off = 0;
  EXPECT_THROW(parse_safetensors_image(tiny.data(), tiny.size(), "f", &off), zeroplan::InputError);
  EXPECT_THROW(parse_safetensors_image(tiny.data(), 0, "f", &off), zeroplan::InputError);
}

TEST(SafetensorsHeader, BadJson) {
  expect_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})", 4, {"not valid JSON"});
  expect_error("[1,2]", 0, {"'{'"});
  expect_error("", 0, {"'{'"});
  expect_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} trailing)", 4, {"not valid JSON"});
}

TEST(SafetensorsHeader, DuplicateKeys) {
  expect_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               8, {"\"a\" twice"});
  expect_error(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4, {"\"dtype\" twice"});
}

TEST(SafetensorsHeader, EntryFieldErrorsNameTheTensor) {
  expect_error(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4, {"\"w\"", "unknown dtype \"F33\""});
  expect_error(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4, {"\"w\"", "dtype"});
  expect_error(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4, {"\"w\"", "dtype"});
  expect_error(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, {"\"w\"", "shape"});
  expect_error(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4, {"\"w\"", "shape"});
  expect_error(R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4, {"\"w\"", "shape"});
  expect_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, {"\"w\"", "data_offsets"});
  expect_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,-4]}})", 4, {"\"w\"", "data_offsets"});
  expect_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4, {"\"w\"", "end before begin"});
  expect_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", 4, {"\"w\"", "extra"});
  expect_error(R"({"w":[1,2]})", 4, {"\"w\"", "not an object"});
  expect_error(R"({"__metadata__":{"format":1}})", 0, {"__metadata__"});
  expect_error(R"({"__metadata__":[]})", 0, {"__metadata__"});
}

TEST(SafetensorsHeader, ShapeTimesDtypeMustEqualSpan) {
  expect_error(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12, {"\"w\"", "needs 16"});
  expect_error(R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,12]}})", 12, {"\"w\"", "needs 6"});
  expect_error(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8,
               {"\"w\"", "overflows"});
}

TEST(SafetensorsHeader, OffsetsMustTileTheBuffer) {
  // overlap
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
               12, {"\"b\"", "overlap"});
  // out of range
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, {"\"a\"", "run past the data buffer"});
  // gap
  expect_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
               12, {"\"b\"", "gap"});
  // uncovered tail
  expect_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8, {"cover 4 of the 8"});
}

// Mutates a valid image at random (bit flips, byte overwrites, truncation, splices of JSON tokens,
// random length prefixes). Every input must either parse into a header whose tensors lie inside the
// buffer, or raise InputError: no crash, no other exception.
TEST(SafetensorsHeader, FuzzNeverCrashes) {
  const std::string base_header = std::string(kValid);
  const auto base = image(base_header, 28);
  const char* tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "-1", "1e300", "18446744073709551615", "null",
                          "\"F32\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\\u0000", "\xff", "0"};
  std::mt19937_64 rng(20240601);
  int parsed_ok = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<unsigned char> img = base;
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      switch (rng() % 6) {
        case 0:  // bit flip anywhere
          if (img.empty()) break;
          img[rng() % img.size()] ^= static_cast<unsigned char>(1u << (rng() % 8));
          break;
        case 1:  // random byte in the header
          if (img.size() < 8 + base_header.size()) break;
          img[8 + rng() % base_header.size()] = static_cast<unsigned char>(rng());
          break;
        case 2:  // truncate
          img.resize(rng() % (img.size() + 1));
          break;
        case 3: {  // splice a JSON token into the header region, keep the length prefix consistent
          if (img.size() < 9) break;
          const std::string tok = tokens[rng() % (sizeof(tokens) / sizeof(tokens[0]))];
          const std::size_t pos = 8 + rng() % (img.size() - 8);
          img.insert(img.begin() + static_cast<std::ptrdiff_t>(pos), tok.begin(), tok.end());
          std::uint64_t n = 0;
          for (int i = 7; i >= 0; --i) n = (n << 8) | img[i];
          n += tok.size();
          for (int i = 0; i < 8; ++i) img[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
          break;
        }
        case 4: {  // random length prefix
          if (img.size() < 8) break;
          std::uint64_t n = rng() % (img.size() + 16);
          for (int i = 0; i < 8; ++i) img[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
          break;
        }
        case 5:  // grow the data buffer
          img.resize(img.size() + rng() % 8, 0);
          break;
      }
    }
    std::uint64_t off = 0;
    try {
      StHeader h = parse_safetensors_image(img.data(), img.size(), "fuzz", &off);
      ++parsed_ok;
      ASSERT_LE(off, img.size());
      for (const auto& t : h.tensors) {
        ASSERT_LE(t.begin_bytes, t.end_bytes);
        ASSERT_LE(off + t.end_bytes, img.size());
        ASSERT_EQ(static_cast<std::uint64_t>(t.numel() * st_dtype_size_bytes(t.dtype)), t.end_bytes - t.begin_bytes);
      }
    } catch (const zeroplan::InputError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(parsed_ok, 0);  // some mutations (padding, metadata bytes) stay valid
}

}  // namespace
}  // namespace zeroplan::executor
