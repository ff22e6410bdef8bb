#include "executor/text/sentencepiece_tokenizer.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include "executor/text/utf8.h"
#include "planner/error.h"

namespace zeroplan::text {

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path)
    : path_(path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = processor_->Load(path);
  if (!status.ok()) throw InputError(fmt::format("{}: not a SentencePiece model ({})", path, status.ToString()));
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  const std::size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos) throw InputError(fmt::format("text is not valid UTF-8 (at byte {})", bad));
  std::vector<int> ids;
  const auto status = processor_->Encode(std::string(text), &ids);
  if (!status.ok()) throw InputError(fmt::format("{}: cannot encode text ({})", path_, status.ToString()));
  return {ids.begin(), ids.end()};
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) {
      throw InputError(fmt::format("token id {} is not in {} (vocab {})", id, path_, vocab_size()));
    }
  }
  std::string text;
  const auto status = processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  if (!status.ok()) throw InputError(fmt::format("{}: cannot decode ids ({})", path_, status.ToString()));
  return text;
}

int32_t SentencePieceTokenizer::bos_id() const { return processor_->bos_id(); }
int32_t SentencePieceTokenizer::eos_id() const { return processor_->eos_id(); }

int32_t SentencePieceTokenizer::pad_id() const {
  if (processor_->pad_id() >= 0) return processor_->pad_id();
  return processor_->eos_id() >= 0 ? processor_->eos_id() : 0;
}

int64_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

int32_t SentencePieceTokenizer::token_id(std::string_view token) const {
  const int id = processor_->PieceToId(std::string(token));
  // PieceToId answers unk for unknown pieces; only the unk piece itself maps to unk.
  if (id == processor_->unk_id() && processor_->IdToPiece(id) != token) return -1;
  return id;
}

std::string SentencePieceTokenizer::describe() const {
  return fmt::format("SentencePiece {} (vocab {})", path_, vocab_size());
}

}  // namespace zeroplan::text
