#pragma once
// A pre-tokenizer regex (Hugging Face "Split" / GPT-2 ByteLevel regex) compiled with PCRE2 in UTF +
// UCP mode, so \p{L}, \p{N}, \s and (?i:...) behave as in the Oniguruma regexes the Python
// `tokenizers` package uses. Needed features: Unicode properties, inline case-insensitive groups and
// the lookahead in `\s+(?!\S)`.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zeroplan::text {

class RegexSplitter {
 public:
  // InputError "<source>: field "<field>": bad regex (...) at offset N" when it does not compile.
  RegexSplitter(const std::string& pattern, const std::string& source, const std::string& field);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Non-overlapping matches [begin, end) left to right in valid UTF-8 text.
  std::vector<std::pair<std::size_t, std::size_t>> matches(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zeroplan::text
