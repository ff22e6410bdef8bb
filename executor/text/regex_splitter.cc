#include "executor/text/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include "planner/error.h"

namespace zeroplan::text {

struct RegexSplitter::Impl {
  pcre2_code* code = nullptr;
};

RegexSplitter::RegexSplitter(const std::string& pattern, const std::string& source, const std::string& field)
    : impl_(std::make_unique<Impl>()) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (impl_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw InputError(fmt::format("{}: field \"{}\": bad regex ({}) at offset {}", source, field,
                                 reinterpret_cast<const char*>(message), error_offset));
  }
  // JIT is only a speed-up; without it (unsupported CPU) matching is the same, just slower.
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

RegexSplitter::~RegexSplitter() { pcre2_code_free(impl_->code); }

std::vector<std::pair<std::size_t, std::size_t>> RegexSplitter::matches(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  ZP_ASSERT(data != nullptr, "out of memory creating PCRE2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t offset = 0;
  // The text was checked for valid UTF-8 by the caller; later calls skip PCRE2's re-check.
  uint32_t options = 0;
  while (offset <= text.size()) {
    const int rc = pcre2_match(impl_->code, subject, text.size(), offset, options, data, nullptr);
    options = PCRE2_NO_UTF_CHECK;
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw InputError(fmt::format("regex match failed: {}", reinterpret_cast<const char*>(message)));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const std::size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      out.emplace_back(begin, end);
      offset = end;
    } else {
      // Empty match: step over one whole UTF-8 character (Oniguruma's find_iter does the same).
      if (begin >= text.size()) break;
      offset = begin + 1;
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) ++offset;
    }
  }
  pcre2_match_data_free(data);
  return out;
}

}  // namespace zeroplan::text
