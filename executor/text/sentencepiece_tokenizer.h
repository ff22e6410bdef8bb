#pragma once
// SentencePiece tokenizer.model (Llama 2, Mistral, TinyLlama) through Debian's libsentencepiece:
// the same library the Python `sentencepiece` package wraps, so ids match it by construction
// (byte fallback, dummy prefix and normalization all come from the model file).
#include <memory>
#include <string>

#include "executor/text/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace zeroplan::text {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // InputError "<path>: not a SentencePiece model (...)".
  explicit SentencePieceTokenizer(const std::string& path);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t bos_id() const override;
  int32_t eos_id() const override;
  int32_t pad_id() const override;
  int64_t vocab_size() const override;
  int32_t token_id(std::string_view token) const override;
  std::string describe() const override;

 private:
  std::string path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace zeroplan::text
