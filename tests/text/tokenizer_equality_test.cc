// Token ids of zeroplan's tokenizers equal those of the Python `tokenizers` / `sentencepiece`
// packages on a mixed corpus (tests/fixtures/tokenizers, made by tools/make_tokenizer_fixtures.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "executor/text/tokenizer.h"

namespace zeroplan::text {
namespace {

const std::string kDir = std::string(ZEROPLAN_SOURCE_DIR) + "/tests/fixtures/tokenizers/";

nlohmann::json fixtures() {
  std::ifstream in(kDir + "fixtures.json");
  return nlohmann::json::parse(in);
}

class TokenizerFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerFixture, IdsAndDecodeEqualPythonLineByLine) {
  const auto meta = fixtures().at(GetParam());
  const auto tok = load_tokenizer(kDir + meta.at("file").get<std::string>());
  std::ifstream in(kDir + "expected_" + GetParam() + ".jsonl");
  ASSERT_TRUE(in) << "missing expected ids for " << GetParam();
  std::string line;
  int line_no = 0, checked = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto row = nlohmann::json::parse(line);
    const auto text = row.at("text").get<std::string>();
    const auto expected = row.at("ids").get<std::vector<int32_t>>();
    EXPECT_EQ(tok->encode(text), expected) << GetParam() << " line " << line_no << ": " << text;
    EXPECT_EQ(tok->decode(expected), row.at("decoded").get<std::string>()) << GetParam() << " line " << line_no;
    ++checked;
  }
  EXPECT_GE(checked, 25);
}

TEST_P(TokenizerFixture, SpecialIdsAndVocabSizeMatchPython) {
  const auto meta = fixtures().at(GetParam());
  const auto tok = load_tokenizer(kDir + meta.at("file").get<std::string>());
  EXPECT_EQ(tok->vocab_size(), meta.at("vocab_size").get<int64_t>());
  EXPECT_EQ(tok->bos_id(), meta.at("bos_id").get<int32_t>());
  EXPECT_EQ(tok->eos_id(), meta.at("eos_id").get<int32_t>());
  EXPECT_GE(tok->pad_id(), 0);
  EXPECT_LT(tok->pad_id(), tok->vocab_size());
}

TEST_P(TokenizerFixture, DecodeOfEncodeIsTheText) {
  const auto meta = fixtures().at(GetParam());
  const auto tok = load_tokenizer(kDir + meta.at("file").get<std::string>());
  for (const std::string text : {"Hello, world! 你好 😀\n\n  code(x) { return 1; }", "多个空格   and tabs\t\tend"}) {
    std::string decoded = tok->decode(tok->encode(text));
    // SentencePiece's dummy prefix is stripped again on decode; GPT-2's add_prefix_space is not.
    if (GetParam() == "gpt2-like") decoded = decoded.substr(1);
    EXPECT_EQ(decoded, text) << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, TokenizerFixture,
                         ::testing::Values("llama3-like", "qwen2-like", "gpt2-like", "sp-bpe"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name) if (c == '-') c = '_';
                           return name;
                         });

TEST(ByteLevelBpe, SpecialTokensAreSingleIdsAndPlainTextAroundThem) {
  const auto tok = load_tokenizer(kDir + "qwen2-like.json");
  const int32_t start = tok->token_id("<|im_start|>"), end = tok->token_id("<|im_end|>");
  ASSERT_GE(start, 0);
  ASSERT_GE(end, 0);
  const auto ids = tok->encode("<|im_start|>user\nhi<|im_end|>");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), start);
  EXPECT_EQ(ids.back(), end);
  const std::vector<int32_t> inner(ids.begin() + 1, ids.end() - 1);
  EXPECT_EQ(inner, tok->encode("user\nhi"));
  // A near-miss is text, not the special token.
  for (int32_t id : tok->encode("<|im_start|")) EXPECT_NE(id, start);
  // In the Llama-3-like tokenizer <|im_start|> is not special: plain text.
  const auto llama = load_tokenizer(kDir + "llama3-like.json");
  EXPECT_EQ(llama->token_id("<|im_start|>"), -1);
  EXPECT_GT(llama->encode("<|im_start|>").size(), 1u);
  EXPECT_EQ(llama->encode("<|begin_of_text|>"), std::vector<int32_t>{llama->bos_id()});
}

TEST(ByteLevelBpe, EncodeAddsNoBosOrEos) {
  const auto tok = load_tokenizer(kDir + "llama3-like.json");
  const auto ids = tok->encode("Hello");
  ASSERT_FALSE(ids.empty());
  EXPECT_NE(ids.front(), tok->bos_id());
  EXPECT_NE(ids.back(), tok->eos_id());
  EXPECT_TRUE(tok->encode("").empty());
}

TEST(ByteLevelBpe, PartialUtf8DecodesToReplacementCharacter) {
  const auto tok = load_tokenizer(kDir + "qwen2-like.json");
  const auto ids = tok->encode("😀");  // 4 bytes, not merged in this tiny vocabulary
  ASSERT_GE(ids.size(), 2u);
  const std::vector<int32_t> first(ids.begin(), ids.begin() + 1);
  EXPECT_EQ(tok->decode(first), "\xEF\xBF\xBD");
}

TEST(SentencePiece, ByteFallbackAndSpecialIds) {
  const auto tok = load_tokenizer(kDir + "sp-bpe.model");
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->pad_id(), 2);  // no pad piece: EOS
  EXPECT_EQ(tok->token_id("<0x41>"), 3 + 0x41);  // byte pieces follow unk, bos, eos
  EXPECT_EQ(tok->token_id("no-such-piece"), -1);
  // A character never seen in training falls back to its UTF-8 bytes.
  const auto ids = tok->encode("ꙮ");
  EXPECT_EQ(tok->decode(ids), "ꙮ");
  int byte_pieces = 0;
  for (int32_t id : ids) byte_pieces += (id >= 3 && id < 3 + 256);
  EXPECT_EQ(byte_pieces, 3);
}

}  // namespace
}  // namespace zeroplan::text
