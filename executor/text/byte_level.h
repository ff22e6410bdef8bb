#pragma once
// The GPT-2 "ByteLevel" byte <-> unicode mapping used by byte-level BPE (GPT-2, Llama 3, Qwen2).
// Every byte maps to a printable code point, so any byte string becomes a string of visible
// characters: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves, the other
// 68 bytes to U+0100, U+0101, ... in byte order (space 0x20 -> 'Ġ' U+0120, '\n' 0x0A -> 'Ċ' U+010A).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace zeroplan::text {

class ByteLevelMap {
 public:
  ByteLevelMap();
  // The UTF-8 text of the character standing for `byte`.
  const std::string& symbol(std::uint8_t byte) const { return symbols_[byte]; }
  // Maps every byte of `bytes` to its character.
  std::string encode(std::string_view bytes) const;
  // Maps a token's characters back to bytes; false (and `out` unchanged) when a character is not
  // one of the 256 symbols (Hugging Face then keeps the token's own UTF-8 bytes).
  bool decode_append(std::string_view token, std::string& out) const;

 private:
  std::array<std::string, 256> symbols_;
  std::unordered_map<char32_t, std::uint8_t> bytes_;
};

const ByteLevelMap& byte_level_map();

}  // namespace zeroplan::text
