#pragma once
// The causal-LM loss sum computed from the final hidden states without materialising the logits of
// the whole batch: lm_head + cross-entropy fused and chunked over rows (the "fused linear
// cross-entropy" of Liger-Kernel, on ATen ops). Same value and gradients as
// causal_lm_loss_sum(at::linear(hidden, weight), labels) (executor/model/loss.h), with two savings:
//   - only positions whose shifted label is not -100 get logits at all (SFT prompts cost nothing
//     in the lm_head);
//   - the [tokens, vocab] fp32 logits, log-softmax and their gradients never exist at once: each
//     chunk of rows computes logits, loss and d(loss)/d(logits) = softmax - onehot in one buffer,
//     then d(hidden) and d(weight) by two GEMMs; backward only scales them by the incoming gradient.
// FLOPs are those of the unfused path (3 GEMMs of 2 * rows * hidden * vocab).
#include <ATen/ATen.h>

#include "executor/model/loss.h"

namespace zeroplan::executor {

// hidden [b, s, H] (model dtype), weight [V, H] (lm_head or tied embedding), labels [b, s] int64
// (unshifted, -100 = ignore). Returns the fp32 loss sum and the label-token count.
LossSum fused_causal_lm_loss_sum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                                 std::int64_t chunk_rows = 256);

}  // namespace zeroplan::executor
