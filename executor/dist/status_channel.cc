#include "executor/dist/status_channel.h"

#include <fmt/format.h>

#include <exception>
#include <vector>

namespace zeroplan::executor::dist {

namespace {

constexpr const char* kAbortKey = "zeroplan/abort";

std::string status_key(int rank) { return fmt::format("zeroplan/status/{}", rank); }
std::string error_key(int rank) { return fmt::format("zeroplan/error/{}", rank); }

std::optional<std::string> get_if_present(c10d::Store& store, const std::string& key) {
  try {
    if (!store.check({key})) return std::nullopt;
    const std::vector<uint8_t> bytes = store.get(key);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception&) {
    return std::nullopt;  // store unreachable: the caller reports what it knows
  }
}

}  // namespace

StatusChannel::StatusChannel(c10::intrusive_ptr<c10d::Store> store, int rank) : store_(std::move(store)), rank_(rank) {}

void StatusChannel::set_phase(const std::string& phase, int64_t step) {
  last_ = RankStatus{step, phase};
  try {
    store_->set(status_key(rank_), fmt::format("{}\t{}", step, phase));
  } catch (const std::exception&) {
    // The store is gone (launcher died): the next collective reports the real problem.
  }
}

void StatusChannel::report_error(RankErrorKind kind, const std::string& message) {
  try {
    store_->set(error_key(rank_), fmt::format("{}\t{}", kind == RankErrorKind::kComm ? "comm" : "error", message));
  } catch (const std::exception&) {
  }
}

RankStatus read_rank_status(c10d::Store& store, int rank) {
  RankStatus status;
  status.phase = "startup";
  const auto text = get_if_present(store, status_key(rank));
  if (!text) return status;
  const auto tab = text->find('\t');
  if (tab == std::string::npos) return status;
  try {
    status.step = std::stoll(text->substr(0, tab));
  } catch (const std::exception&) {
    status.step = -1;
  }
  status.phase = text->substr(tab + 1);
  return status;
}

std::optional<RankErrorRecord> read_rank_error(c10d::Store& store, int rank) {
  const auto text = get_if_present(store, error_key(rank));
  if (!text) return std::nullopt;
  const auto tab = text->find('\t');
  RankErrorRecord record;
  record.kind = text->substr(0, tab) == "comm" ? RankErrorKind::kComm : RankErrorKind::kError;
  record.message = tab == std::string::npos ? *text : text->substr(tab + 1);
  return record;
}

std::optional<std::string> read_abort(c10d::Store& store) { return get_if_present(store, kAbortKey); }

void write_abort(c10d::Store& store, const std::string& message) {
  try {
    store.set(kAbortKey, message);
  } catch (const std::exception&) {
  }
}

std::string describe_status(const RankStatus& status) {
  if (status.step < 0) return status.phase.empty() ? "startup" : status.phase;
  return fmt::format("{} of step {}", status.phase, status.step);
}

}  // namespace zeroplan::executor::dist
