#include "executor/text/nfc.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>

#include "planner/error.h"

namespace zeroplan::text {

std::string nfc(std::string_view text) {
  // ASCII is always in NFC: skip ICU for the common case.
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(text);
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  ZP_ASSERT(U_SUCCESS(status), "ICU has no NFC data (is libicu installed correctly?)");
  const icu::UnicodeString source = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  const icu::UnicodeString normalized = normalizer->normalize(source, status);
  ZP_ASSERT(U_SUCCESS(status), "ICU NFC normalization failed on valid UTF-8");
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

}  // namespace zeroplan::text
