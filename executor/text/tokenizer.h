#pragma once
// Tokenizers for SFT data (pure C++, no LibTorch).
//
//   auto tok = zeroplan::text::load_tokenizer("models/llama-3/tokenizer.json");
//   std::vector<int32_t> ids = tok->encode("Hello");   // never adds BOS/EOS: the SFT layer does
//
// Two kinds, chosen by the file:
//   *.model          SentencePiece (Llama 2, Mistral, TinyLlama) through libsentencepiece.
//   *.json           Hugging Face tokenizer.json, byte-level BPE (Llama 3, Qwen2, GPT-2 style),
//                    implemented here (bpe_tokenizer.h). Anything else in a tokenizer.json (other
//                    model types, normalizers) is an InputError naming the file and field.
//   a directory      its tokenizer.json if present, else its tokenizer.model.
// Token ids equal those of the Python `tokenizers` / `sentencepiece` packages with no special
// tokens added (tests/text/tokenizer_equality_test.cc checks it on a mixed corpus).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace zeroplan::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Text must be valid UTF-8 (InputError otherwise). Special/added tokens written in the text
  // (e.g. "<|im_start|>") become their ids for tokenizer.json; SentencePiece treats them as text.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Special tokens are written out; invalid UTF-8 from partial byte tokens becomes U+FFFD.
  // InputError on an id outside [0, vocab_size()).
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // -1 when the tokenizer has no such token (Qwen2 and GPT-2 have no BOS).
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  // The id written into padding positions (labels there are -100 so its value never reaches the
  // loss): the tokenizer's pad token, else EOS, else 0.
  virtual int32_t pad_id() const = 0;
  // One past the largest id (the embedding rows a model needs at least).
  virtual int64_t vocab_size() const = 0;
  // The id of a piece/token string, -1 when absent ("<|im_start|>", "▁the", "Ġthe").
  virtual int32_t token_id(std::string_view token) const = 0;
  // One line for logs: "byte-level BPE tokenizer.json, vocab 128256".
  virtual std::string describe() const = 0;
};

// InputError "<path>: ..." on a missing, unreadable, malformed or unsupported file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace zeroplan::text
