#pragma once
// Unicode NFC normalization (the "NFC" normalizer of Qwen2's tokenizer.json), through ICU.
#include <string>
#include <string_view>

namespace zeroplan::text {

// `valid_utf8` in Normalization Form C.
std::string nfc(std::string_view valid_utf8);

}  // namespace zeroplan::text
