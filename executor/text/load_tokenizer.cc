#include <fmt/format.h>

#include <filesystem>

#include "executor/text/bpe_tokenizer.h"
#include "executor/text/sentencepiece_tokenizer.h"
#include "executor/text/tokenizer.h"
#include "planner/error.h"

namespace zeroplan::text {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
      const fs::path candidate = fs::path(path) / name;
      if (fs::exists(candidate, ec)) return load_tokenizer(candidate.string());
    }
    throw InputError(fmt::format("{}: no tokenizer.json or tokenizer.model in this directory", path));
  }
  if (!fs::is_regular_file(path, ec)) throw InputError(fmt::format("{}: tokenizer file not found", path));
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".json") return std::make_unique<ByteLevelBpeTokenizer>(read_tokenizer_json(path));
  if (ext == ".model") return std::make_unique<SentencePieceTokenizer>(path);
  throw InputError(fmt::format("{}: unknown tokenizer kind (expected a SentencePiece .model or a Hugging Face tokenizer.json)", path));
}

}  // namespace zeroplan::text
