#pragma once
// A byte-per-token tokenizer for hand-checked SFT tests: byte b -> id b + 10; BOS 1, EOS 2, PAD 0.
#include <fmt/format.h>

#include "executor/text/tokenizer.h"

namespace zeroplan::text::testing {

class ByteTokenizer final : public Tokenizer {
 public:
  explicit ByteTokenizer(int32_t bos = 1, int32_t eos = 2) : bos_(bos), eos_(eos) {}
  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c) + 10);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += id >= 10 ? static_cast<char>(id - 10) : '?';
    return s;
  }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  int32_t pad_id() const override { return 0; }
  int64_t vocab_size() const override { return 266; }
  int32_t token_id(std::string_view) const override { return -1; }
  std::string describe() const override { return "byte tokenizer (test)"; }

 private:
  int32_t bos_, eos_;
};

// ids of `text` under ByteTokenizer.
inline std::vector<int32_t> bytes(std::string_view text) { return ByteTokenizer().encode(text); }

}  // namespace zeroplan::text::testing
