#include "executor/text/collate.h"

#include <fmt/format.h>

#include <algorithm>

#include "executor/text/sft_data.h"
#include "planner/error.h"

namespace zeroplan::text {
namespace {

MicroBatch blank(int64_t batch, int64_t seq, int32_t pad_id) {
  MicroBatch mb;
  mb.batch = batch;
  mb.seq = seq;
  const auto n = static_cast<std::size_t>(batch * seq);
  mb.input_ids.assign(n, pad_id);
  mb.labels.assign(n, kIgnoreLabel);
  mb.position_ids.assign(n, 0);
  mb.segment_ids.assign(n, -1);
  return mb;
}

// Writes `e` at row `row`, column `col`, as segment `segment`.
void place(MicroBatch& mb, const SftExample& e, int64_t row, int64_t col, int64_t segment) {
  for (std::size_t t = 0; t < e.input_ids.size(); ++t) {
    const auto at = static_cast<std::size_t>(row * mb.seq + col) + t;
    mb.input_ids[at] = e.input_ids[t];
    mb.labels[at] = t == 0 ? kIgnoreLabel : e.labels[t];
    mb.position_ids[at] = static_cast<int64_t>(t);
    mb.segment_ids[at] = segment;
  }
  ++mb.examples;
}

}  // namespace

int64_t MicroBatch::label_tokens() const {
  return std::count_if(labels.begin(), labels.end(), [](int64_t l) { return l != kIgnoreLabel; });
}

MicroBatch collate_padded(const std::vector<const SftExample*>& examples, int32_t pad_id) {
  ZP_ASSERT(!examples.empty(), "collate_padded needs at least one example");
  std::size_t longest = 1;
  for (const auto* e : examples) longest = std::max(longest, e->input_ids.size());
  MicroBatch mb = blank(static_cast<int64_t>(examples.size()), static_cast<int64_t>(longest), pad_id);
  for (std::size_t row = 0; row < examples.size(); ++row) place(mb, *examples[row], static_cast<int64_t>(row), 0, 0);
  return mb;
}

MicroBatch collate_packed(const std::vector<const SftExample*>& examples, int64_t max_seq_len, int32_t pad_id) {
  ZP_ASSERT(!examples.empty(), "collate_packed needs at least one example");
  // Next-fit in the given order: a row is closed when the next example does not fit.
  std::vector<std::vector<const SftExample*>> rows(1);
  std::vector<int64_t> row_len(1, 0);
  for (const auto* e : examples) {
    const auto len = static_cast<int64_t>(e->input_ids.size());
    if (len > max_seq_len) throw InputError(fmt::format("an example of {} tokens is longer than max_seq_len {}", len, max_seq_len));
    if (row_len.back() + len > max_seq_len) {
      rows.emplace_back();
      row_len.push_back(0);
    }
    rows.back().push_back(e);
    row_len.back() += len;
  }
  const int64_t seq = std::max<int64_t>(1, *std::max_element(row_len.begin(), row_len.end()));
  MicroBatch mb = blank(static_cast<int64_t>(rows.size()), seq, pad_id);
  for (std::size_t row = 0; row < rows.size(); ++row) {
    int64_t col = 0;
    for (std::size_t s = 0; s < rows[row].size(); ++s) {
      place(mb, *rows[row][s], static_cast<int64_t>(row), col, static_cast<int64_t>(s));
      col += static_cast<int64_t>(rows[row][s]->input_ids.size());
    }
  }
  return mb;
}

}  // namespace zeroplan::text
