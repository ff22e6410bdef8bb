#pragma once
// Turns SFT examples into a rectangular micro-batch, row-major [batch, seq].
//   padded: one example per row, padded to the longest: input pad_id, label -100, position 0,
//           segment -1 on padding; real tokens have segment 0 and positions 0..len-1.
//   packed: examples laid end to end in rows of at most max_seq_len tokens (in order; a new row
//           when the next one does not fit); segment ids 0, 1, ... per example within a row so
//           attention stays inside each example, positions restart at 0 per example; rows padded
//           to the longest row as above.
// In both, the label of each example's first token is -100: with the HF shift (logits[t] predicts
// labels[t+1]) it would otherwise be predicted from the previous packed example. So
// label_tokens() is exactly the number of tokens the loss counts.
#include <cstdint>
#include <vector>

namespace zeroplan::text {

struct SftExample;

struct MicroBatch {
  int64_t batch = 0, seq = 0;
  std::vector<int64_t> input_ids, labels, position_ids, segment_ids;  // row-major [batch, seq]
  int64_t label_tokens() const;
  int64_t examples = 0;  // SFT examples in the micro-batch (packed rows hold several)
};

MicroBatch collate_padded(const std::vector<const SftExample*>& examples, int32_t pad_id);
// InputError when an example is longer than max_seq_len.
MicroBatch collate_packed(const std::vector<const SftExample*>& examples, int64_t max_seq_len, int32_t pad_id);

}  // namespace zeroplan::text
