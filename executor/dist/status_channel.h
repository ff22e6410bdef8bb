#pragma once
// A small status channel through the job's c10d Store (TCPStore hosted by the launcher), so that
// when a rank dies the launcher can say what it was doing:
//   zeroplan/status/<rank> = "<step>\t<phase>"     written by the rank at each phase change
//   zeroplan/error/<rank>  = "<kind>\t<message>"   written by a rank that throws (kind: comm|error)
//   zeroplan/abort         = "<message>"           written by a launcher that stops the job
// One store round trip per write: use it per phase (forward/backward/step), not per layer.
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace zeroplan::executor::dist {

enum class RankErrorKind { kComm, kError };

struct RankStatus {
  int64_t step = -1;      // -1 before the first step
  std::string phase;      // "startup" when nothing was written
};

struct RankErrorRecord {
  RankErrorKind kind = RankErrorKind::kError;
  std::string message;
};

class StatusChannel {
 public:
  StatusChannel(c10::intrusive_ptr<c10d::Store> store, int rank);
  int rank() const { return rank_; }
  // Records the phase this rank enters ("forward", "backward", "optimizer step", ...).
  // Never throws: a status write must not turn a healthy run into a failed one.
  void set_phase(const std::string& phase, int64_t step);
  void report_error(RankErrorKind kind, const std::string& message);
  const RankStatus& last() const { return last_; }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  int rank_;
  RankStatus last_;
};

// Reader side (launchers). Return defaults/nullopt when the key is absent or the store is gone.
RankStatus read_rank_status(c10d::Store& store, int rank);
std::optional<RankErrorRecord> read_rank_error(c10d::Store& store, int rank);
std::optional<std::string> read_abort(c10d::Store& store);
void write_abort(c10d::Store& store, const std::string& message);

// "backward of step 17", "startup" (step < 0 and no phase), "data loading before step 0", ...
std::string describe_status(const RankStatus& status);

}  // namespace zeroplan::executor::dist
