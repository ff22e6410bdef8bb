#pragma once
// Hugging Face tokenizer.json byte-level BPE (Llama 3, Qwen2, GPT-2 style), reproducing the Python
// `tokenizers` package's ids:
//   1. added/special tokens are matched first, leftmost-longest (normalized=false ones on the raw
//      text, then NFC when the file asks for it, then normalized=true ones);
//   2. each remaining piece goes through the pre-tokenizer: regex Split steps (PCRE2), then
//      ByteLevel (optional prefix space, optional GPT-2 regex, bytes -> printable characters);
//   3. each pre-token is merged by BPE: repeatedly merge the adjacent pair with the lowest merge
//      rank (leftmost first among equal ranks) until no pair is a merge.
#include <array>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "executor/text/regex_splitter.h"
#include "executor/text/tokenizer.h"
#include "executor/text/tokenizer_json.h"

namespace zeroplan::text {

class ByteLevelBpeTokenizer final : public Tokenizer {
 public:
  explicit ByteLevelBpeTokenizer(BpeTokenizerConfig config);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t bos_id() const override { return config_.bos_id; }
  int32_t eos_id() const override { return config_.eos_id; }
  int32_t pad_id() const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_token_.size()); }
  int32_t token_id(std::string_view token) const override;
  std::string describe() const override;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void bpe(std::string_view piece_bytes, std::vector<int32_t>& out) const;
  using TokenBuckets = std::array<std::vector<const AddedToken*>, 256>;
  // Emits the ids of `buckets`' tokens found in `text` (leftmost-longest) and calls on_text for
  // the text between them.
  template <typename OnText>
  void split_added_tokens(std::string_view text, const TokenBuckets& buckets, std::vector<int32_t>& out,
                          const OnText& on_text) const;

  BpeTokenizerConfig config_;
  std::vector<std::unique_ptr<RegexSplitter>> splitters_;
  std::unique_ptr<RegexSplitter> gpt2_splitter_;  // ByteLevel use_regex
  std::array<int32_t, 256> byte_ids_{};           // id of each byte's byte-level symbol
  std::unordered_map<uint64_t, Merge> merges_;    // (left id << 32 | right id) -> merge
  std::vector<std::string> id_to_token_;          // "" for unused ids
  std::vector<bool> is_added_;                    // id -> an added token (decoded verbatim)
  // Added tokens grouped by first byte, longest first, for leftmost-longest matching. As in
  // Hugging Face, tokens with normalized=false are matched on the raw text first, then the others
  // on the normalized text in between (their contents normalized too).
  std::vector<AddedToken> normalized_tokens_;
  TokenBuckets raw_buckets_, normalized_buckets_;
};

}  // namespace zeroplan::text
