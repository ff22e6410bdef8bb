#include "executor/text/byte_level.h"

#include "executor/text/utf8.h"

namespace zeroplan::text {

ByteLevelMap::ByteLevelMap() {
  // GPT-2's bytes_to_unicode(): printable bytes keep their code point; the rest get 256 + n.
  const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = printable(b) ? static_cast<char32_t>(b) : next++;
    append_utf8(symbols_[b], cp);
    bytes_[cp] = static_cast<std::uint8_t>(b);
  }
}

std::string ByteLevelMap::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += symbols_[static_cast<std::uint8_t>(c)];
  return out;
}

bool ByteLevelMap::decode_append(std::string_view token, std::string& out) const {
  std::string bytes;
  bytes.reserve(token.size());
  std::size_t pos = 0;
  while (pos < token.size()) {
    const auto it = bytes_.find(next_code_point(token, pos));
    if (it == bytes_.end()) return false;
    bytes += static_cast<char>(it->second);
  }
  out += bytes;
  return true;
}

const ByteLevelMap& byte_level_map() {
  static const ByteLevelMap map;
  return map;
}

}  // namespace zeroplan::text
