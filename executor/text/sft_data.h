#pragma once
// Supervised fine-tuning data: JSONL (Alpaca or chat form, see sft_record.h) -> token ids and
// labels, with the prompt masked out of the loss (labels -100) per prompt_template.h.
//
//   auto tok = load_tokenizer("configs/tokenizers/tiny-sp.model");
//   SftDataset data = load_sft_jsonl("configs/data/sample-alpaca.jsonl", *tok, {.max_seq_len = 128});
//   DistributedSampler sampler(data.examples.size(), rank, world, seed, /*shuffle=*/true);
//   MicroBatch mb = collate_padded({&data.examples[i], &data.examples[j]}, tok->pad_id());
//
// Token layout of one example: [BOS] prompt response [EOS], each text segment encoded on its own
// and concatenated (the usual SFT practice; it keeps the prompt/response boundary exact).
// Examples longer than max_seq_len keep their first max_seq_len tokens and are counted.
// A malformed line is InputError "FILE:LINE: what; use --skip-bad-lines ..." unless
// skip_bad_lines, which skips and counts it. Blank lines are ignored.
#include <cstdint>
#include <string>
#include <vector>

#include "executor/text/collate.h"
#include "executor/text/distributed_sampler.h"
#include "executor/text/tokenizer.h"

namespace zeroplan::text {

inline constexpr int32_t kIgnoreLabel = -100;  // Hugging Face's ignore_index

struct SftExample {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;  // kIgnoreLabel on prompt tokens (unshifted: labels[t] is token t)
};

struct SftDataOptions {
  int64_t max_seq_len = 0;       // required, >= 2
  bool train_on_prompt = false;  // labels = input_ids (prompt and BOS included)
  bool skip_bad_lines = false;
  std::string template_name = "alpaca";  // "alpaca", "chatml" or a template .json (prompt_template.h)
  bool add_bos = true;  // no-op for tokenizers without BOS (Qwen2)
  bool add_eos = true;  // after every trained response; InputError if the tokenizer has no EOS
};

struct SftDataset {
  std::vector<SftExample> examples;
  int64_t truncated = 0;          // examples cut to max_seq_len
  int64_t skipped_bad_lines = 0;  // with skip_bad_lines
  int64_t truncated_to_no_labels = 0;  // of `truncated`: the prompt alone filled max_seq_len
  int64_t tokens() const;        // sum of example lengths
  int64_t label_tokens() const;  // labels != kIgnoreLabel
};

SftDataset load_sft_jsonl(const std::string& path, const Tokenizer& tokenizer, const SftDataOptions& options);

}  // namespace zeroplan::text
