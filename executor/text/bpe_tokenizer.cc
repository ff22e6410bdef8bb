#include "executor/text/bpe_tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

#include "executor/text/byte_level.h"
#include "executor/text/nfc.h"
#include "executor/text/utf8.h"
#include "planner/error.h"

namespace zeroplan::text {
namespace {

// The regex of the ByteLevel pre-tokenizer when use_regex is true (GPT-2's).
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

bool is_whitespace_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Splits every piece by `splitter`: Isolated keeps matches and the text between them as pieces,
// Removed keeps only the text between matches. Empty pieces are dropped (as Hugging Face does).
std::vector<std::string> split_pieces(const std::vector<std::string>& pieces, const RegexSplitter& splitter, bool remove_matches) {
  std::vector<std::string> out;
  for (const auto& piece : pieces) {
    std::size_t last = 0;
    for (const auto& [begin, end] : splitter.matches(piece)) {
      if (begin > last) out.push_back(piece.substr(last, begin - last));
      if (!remove_matches) out.push_back(piece.substr(begin, end - begin));
      last = end;
    }
    if (last < piece.size()) out.push_back(piece.substr(last));
  }
  return out;
}

}  // namespace

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(BpeTokenizerConfig config) : config_(std::move(config)) {
  const std::string& src = config_.source;
  for (const auto& split : config_.splits) {
    std::string pattern = split.pattern;
    if (split.literal) pattern = "\\Q" + pattern + "\\E";
    splitters_.push_back(std::make_unique<RegexSplitter>(pattern, src, split.field));
  }
  if (config_.byte_level_regex) gpt2_splitter_ = std::make_unique<RegexSplitter>(kGpt2Pattern, src, "pre_tokenizer");

  int64_t max_id = -1;
  for (const auto& [token, id] : config_.vocab) max_id = std::max<int64_t>(max_id, id);
  for (const auto& t : config_.added_tokens) max_id = std::max<int64_t>(max_id, t.id);
  id_to_token_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  is_added_.assign(id_to_token_.size(), false);
  for (const auto& [token, id] : config_.vocab) id_to_token_[id] = token;
  for (const auto& t : config_.added_tokens) {
    id_to_token_[t.id] = t.content;
    is_added_[t.id] = true;
    if (t.normalized) {
      normalized_tokens_.push_back(t);
      if (config_.nfc) normalized_tokens_.back().content = nfc(t.content);
    } else {
      raw_buckets_[static_cast<uint8_t>(t.content[0])].push_back(&t);
    }
  }
  for (const auto& t : normalized_tokens_) normalized_buckets_[static_cast<uint8_t>(t.content[0])].push_back(&t);
  for (auto* buckets : {&raw_buckets_, &normalized_buckets_}) {
    for (auto& bucket : *buckets) {
      std::stable_sort(bucket.begin(), bucket.end(),
                       [](const AddedToken* a, const AddedToken* b) { return a->content.size() > b->content.size(); });
    }
  }

  const ByteLevelMap& bytes = byte_level_map();
  for (int b = 0; b < 256; ++b) {
    const auto it = config_.vocab.find(bytes.symbol(static_cast<uint8_t>(b)));
    if (it == config_.vocab.end()) {
      throw InputError(fmt::format("{}: field \"model.vocab\" lacks the byte-level symbol \"{}\" of byte 0x{:02X} "
                                   "(not a byte-level BPE vocabulary)", src, bytes.symbol(static_cast<uint8_t>(b)), b));
    }
    byte_ids_[b] = it->second;
  }

  merges_.reserve(config_.merges.size());
  for (std::size_t rank = 0; rank < config_.merges.size(); ++rank) {
    const auto& [left, right] = config_.merges[rank];
    const auto l = config_.vocab.find(left), r = config_.vocab.find(right), m = config_.vocab.find(left + right);
    if (l == config_.vocab.end() || r == config_.vocab.end() || m == config_.vocab.end()) {
      throw InputError(fmt::format("{}: field \"model.merges\" entry {} (\"{} {}\") uses a token missing from model.vocab",
                                   src, rank, left, right));
    }
    // Hugging Face collects the list into a HashMap, so a repeated pair takes its later rank.
    merges_[pair_key(l->second, r->second)] = Merge{static_cast<int32_t>(rank), m->second};
  }
}

int32_t ByteLevelBpeTokenizer::pad_id() const {
  if (config_.pad_id >= 0) return config_.pad_id;
  return config_.eos_id >= 0 ? config_.eos_id : 0;
}

int32_t ByteLevelBpeTokenizer::token_id(std::string_view token) const {
  for (const auto& t : config_.added_tokens) {
    if (t.content == token) return t.id;
  }
  const auto it = config_.vocab.find(std::string(token));
  return it == config_.vocab.end() ? -1 : it->second;
}

std::string ByteLevelBpeTokenizer::describe() const {
  return fmt::format("byte-level BPE {} (vocab {}, {} merges, {} added tokens{})", config_.source, vocab_size(),
                     config_.merges.size(), config_.added_tokens.size(), config_.nfc ? ", NFC" : "");
}

void ByteLevelBpeTokenizer::bpe(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (config_.ignore_merges) {
    const auto it = config_.vocab.find(byte_level_map().encode(piece));
    if (it != config_.vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(piece.size());
  for (char c : piece) symbols.push_back(byte_ids_[static_cast<uint8_t>(c)]);
  // Merge the lowest-ranked adjacent pair, leftmost first among equals, until none is a merge:
  // the order Hugging Face's priority queue (rank, then position) produces.
  while (symbols.size() > 1) {
    int32_t best_rank = INT32_MAX, best_id = -1;
    std::size_t best_pos = 0;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = merges_.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != merges_.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        best_id = it->second.merged_id;
        best_pos = i;
      }
    }
    if (best_id < 0) break;
    symbols[best_pos] = best_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

void ByteLevelBpeTokenizer::encode_piece(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<std::string> pieces{std::string(text)};
  for (std::size_t i = 0; i < splitters_.size(); ++i) {
    pieces = split_pieces(pieces, *splitters_[i], config_.splits[i].remove_matches);
  }
  if (config_.add_prefix_space) {
    for (auto& p : pieces) {
      if (p.empty() || p[0] != ' ') p.insert(p.begin(), ' ');
    }
  }
  if (gpt2_splitter_) pieces = split_pieces(pieces, *gpt2_splitter_, false);
  for (const auto& p : pieces) bpe(p, out);
}

template <typename OnText>
void ByteLevelBpeTokenizer::split_added_tokens(std::string_view text, const TokenBuckets& buckets, std::vector<int32_t>& out,
                                               const OnText& on_text) const {
  std::size_t piece_begin = 0;  // start of the text not yet emitted
  std::size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* match = nullptr;
    for (const AddedToken* t : buckets[static_cast<uint8_t>(text[pos])]) {
      if (text.compare(pos, t->content.size(), t->content) == 0) {
        match = t;  // the longest, as buckets are sorted longest first
        break;
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    std::size_t begin = pos, end = pos + match->content.size();
    if (match->lstrip) {
      while (begin > piece_begin && is_whitespace_byte(text[begin - 1])) --begin;
    }
    if (match->rstrip) {
      while (end < text.size() && is_whitespace_byte(text[end])) ++end;
    }
    on_text(text.substr(piece_begin, begin - piece_begin));
    out.push_back(match->id);
    piece_begin = pos = end;
  }
  on_text(text.substr(piece_begin));
}

std::vector<int32_t> ByteLevelBpeTokenizer::encode(std::string_view text) const {
  const std::size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos) throw InputError(fmt::format("text is not valid UTF-8 (at byte {})", bad));
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  const auto normalized_part = [&](std::string_view raw) {
    if (raw.empty()) return;
    const std::string normalized = config_.nfc ? nfc(raw) : std::string(raw);
    split_added_tokens(normalized, normalized_buckets_, out, [&](std::string_view piece) { encode_piece(piece, out); });
  };
  split_added_tokens(text, raw_buckets_, out, normalized_part);
  return out;
}

std::string ByteLevelBpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  const ByteLevelMap& map = byte_level_map();
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || (id_to_token_[id].empty() && !is_added_[id])) {
      throw InputError(fmt::format("token id {} is not in {} (vocab {})", id, config_.source, vocab_size()));
    }
    // Hugging Face's ByteLevel decoder maps each token's characters back to bytes, keeping a
    // token's own UTF-8 when a character is not a byte symbol (e.g. most special tokens).
    const std::string& token = id_to_token_[id];
    if (!map.decode_append(token, bytes)) bytes += token;
  }
  return utf8_lossy(bytes);
}

}  // namespace zeroplan::text
