// The shipped sample data and tokenizer (configs/) load cleanly and behave as documented.
#include <gtest/gtest.h>

#include <algorithm>

#include "executor/text/sft_data.h"

namespace zeroplan::text {
namespace {

const std::string kRoot = ZEROPLAN_SOURCE_DIR;

TEST(SampleData, AlpacaLoadsWithTheTinyTokenizerAndSomeAreTruncated) {
  const auto tok = load_tokenizer(kRoot + "/configs/tokenizers/tiny-sp.model");
  EXPECT_EQ(tok->vocab_size(), 2000);
  const auto data = load_sft_jsonl(kRoot + "/configs/data/sample-alpaca.jsonl", *tok, {.max_seq_len = 128});
  EXPECT_GE(data.examples.size(), 200u);
  EXPECT_EQ(data.skipped_bad_lines, 0);
  EXPECT_GT(data.truncated, 0);
  EXPECT_LT(data.truncated, 40);
  EXPECT_EQ(data.truncated_to_no_labels, 0);
  for (const auto& e : data.examples) {
    ASSERT_LE(e.input_ids.size(), 128u);
    ASSERT_EQ(e.input_ids.front(), tok->bos_id());
    ASSERT_EQ(e.labels.front(), kIgnoreLabel);
  }
  EXPECT_GT(data.label_tokens(), data.tokens() / 10);
  EXPECT_LT(data.label_tokens(), data.tokens());
}

TEST(SampleData, ChatLoads) {
  const auto tok = load_tokenizer(kRoot + "/configs/tokenizers/tiny-sp.model");
  const auto data = load_sft_jsonl(kRoot + "/configs/data/sample-chat.jsonl", *tok, {.max_seq_len = 256});
  EXPECT_GE(data.examples.size(), 50u);
  EXPECT_EQ(data.truncated, 0);
  int64_t eos = 0;
  for (const auto& e : data.examples) eos += std::count(e.labels.begin(), e.labels.end(), tok->eos_id());
  EXPECT_GT(eos, static_cast<int64_t>(data.examples.size()));  // multi-turn: one EOS per assistant turn
}

}  // namespace
}  // namespace zeroplan::text
