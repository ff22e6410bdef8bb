#pragma once
// UTF-8 helpers shared by the tokenizers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace zeroplan::text {

// Appends the UTF-8 encoding of a code point (<= 0x10FFFF).
void append_utf8(std::string& out, char32_t code_point);

// Byte offset of the first invalid UTF-8 sequence, or std::string_view::npos when valid.
std::size_t find_invalid_utf8(std::string_view bytes);

// Decodes one code point at `pos` of valid UTF-8, advancing `pos`.
char32_t next_code_point(std::string_view valid_utf8, std::size_t& pos);

// Like Rust's String::from_utf8_lossy (what Hugging Face decoders use): each maximal invalid
// subsequence becomes U+FFFD.
std::string utf8_lossy(std::string_view bytes);

}  // namespace zeroplan::text
