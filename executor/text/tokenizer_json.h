#pragma once
// Reads a Hugging Face tokenizer.json into a typed config, strictly: what zeroplan's byte-level BPE
// cannot reproduce exactly is an InputError naming the file and field, never a silent fallback.
//
// Supported (what Llama 3, Qwen2 and GPT-2 style files use):
//   normalizer     null or NFC (Qwen2), through ICU
//   pre_tokenizer  ByteLevel, or Sequence[Split(Regex|String, Isolated|Removed, invert=false)...,
//                  ByteLevel] (ByteLevel last; its add_prefix_space and use_regex honoured)
//   model          BPE with byte_fallback=false, no dropout, no subword prefix/suffix, merges as
//                  "a b" strings or [a, b] arrays, ignore_merges
//   decoder        ByteLevel
//   added_tokens   single_word=false (lstrip/rstrip honoured)
//   truncation, padding  null
//   post_processor anything: encode() never adds special tokens; a TemplateProcessing that starts
//                  with a special token names the BOS token.
// BOS/EOS/PAD come from tokenizer_config.json beside the file when present (bos_token, eos_token,
// pad_token), else BOS from the post-processor and EOS/PAD from well-known token names.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace zeroplan::text {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool lstrip = false;  // the match also takes the whitespace on its left
  bool rstrip = false;  // ... and on its right
  bool special = false;
  bool normalized = false;  // matched on normalized text (after the normalizer), else on raw text
};

struct RegexSplit {
  std::string pattern;   // PCRE2 syntax (Oniguruma-compatible for what tokenizer.json files use)
  bool literal = false;  // {"String": ...} pattern: matched as plain text
  bool remove_matches = false;  // behavior "Removed" (else "Isolated": matches kept as pieces)
  std::string field;     // "pre_tokenizer.pretokenizers[0].pattern", for error messages
};

struct BpeTokenizerConfig {
  std::string source;  // the file path
  std::vector<AddedToken> added_tokens;
  bool nfc = false;  // normalizer NFC
  std::vector<RegexSplit> splits;  // applied in order before the ByteLevel step
  bool add_prefix_space = false;   // ByteLevel: prepend ' ' to each piece not starting with one
  bool byte_level_regex = false;   // ByteLevel use_regex: split with GPT-2's regex
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // by rank (index)
  bool ignore_merges = false;  // a piece already in the vocab is one token (Llama 3)
  int32_t bos_id = -1, eos_id = -1, pad_id = -1;
};

BpeTokenizerConfig read_tokenizer_json(const std::string& path);

}  // namespace zeroplan::text
