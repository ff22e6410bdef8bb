#pragma once
// Crash-safe checkpoint directories (pure C++: POSIX + nlohmann/json).
//
// Writing: files go into PARENT/.NAME.tmp-PID/, each fsync'ed; manifest.json is written last (its
// presence is the completion marker) with every file's size and 64-bit checksum; then the temp dir
// is fsync'ed and renamed to PARENT/NAME, and PARENT is fsync'ed. A crash at any point leaves either
// no PARENT/NAME or a complete one; a leftover .tmp dir is never read.
// `latest` (PARENT/latest, one line: NAME) is replaced atomically (write latest.tmp, fsync, rename).
//
// Reading: the manifest must parse and carry the format tag, and every file must have the recorded
// size and checksum; anything else is an InputError naming the file ("corrupt or incomplete").
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace zeroplan::executor {

inline constexpr const char* kCheckpointFormat = "zeroplan.checkpoint/v1";

// 64-bit checksum of a byte range (word-wise multiply-xorshift; detects truncation and bit flips,
// not an adversary). `seed` chains calls over consecutive chunks.
std::uint64_t checksum64(const void* data, std::size_t bytes, std::uint64_t seed = 0);

class AtomicDirWriter {
 public:
  AtomicDirWriter(std::string parent, std::string name);  // creates the temp dir
  // A temp dir PARENT/.NAME.tmp-<tmp_suffix> that other processes can find (sharded checkpoints:
  // every rank writes its files there, rank 0 owns the writer and adopts them).
  AtomicDirWriter(std::string parent, std::string name, const std::string& tmp_suffix);
  ~AtomicDirWriter();                                      // removes the temp dir unless committed
  AtomicDirWriter(const AtomicDirWriter&) = delete;
  AtomicDirWriter& operator=(const AtomicDirWriter&) = delete;

  void write_file(const std::string& file, const void* data, std::size_t bytes);
  // Records a file another process wrote (synced) into tmp_dir(), with its size and checksum_hex.
  void adopt_file(const std::string& file, std::size_t bytes, const std::string& checksum);
  const std::string& tmp_dir() const { return tmp_; }
  // Writes manifest.json {format, files, meta}, fsyncs and renames into place. An existing
  // PARENT/NAME is replaced (moved aside, then removed after the rename).
  std::string commit(const nlohmann::json& meta);

 private:
  std::string parent_, name_, tmp_;
  nlohmann::json files_ = nlohmann::json::object();
  bool committed_ = false;
};

// The temp dir AtomicDirWriter(parent, name, tmp_suffix) uses.
std::string atomic_tmp_dir(const std::string& parent, const std::string& name, const std::string& tmp_suffix);
// Writes a file and fsyncs it (InputError naming it on failure); the manifest's checksum text.
void write_file_synced(const std::string& path, const void* data, std::size_t bytes);
std::string checksum_hex(const void* data, std::size_t bytes);

// Atomically points PARENT/latest at NAME.
void write_latest_pointer(const std::string& parent, const std::string& name);

// A checkpoint directory (holding manifest.json), or a folder with a `latest` file (a run's
// checkpoints/ folder, or a run dir whose checkpoints/latest exists) -> the checkpoint directory.
std::string resolve_checkpoint_dir(const std::string& path);

class CheckpointDirReader {
 public:
  explicit CheckpointDirReader(std::string dir);  // reads and checks manifest.json
  const nlohmann::json& meta() const { return meta_; }
  const std::string& dir() const { return dir_; }
  bool has_file(const std::string& file) const { return files_.contains(file); }
  std::size_t file_bytes(const std::string& file) const;
  // Reads exactly `bytes` into data; checks the size and checksum recorded in the manifest.
  void read_file(const std::string& file, void* data, std::size_t bytes) const;

 private:
  std::string dir_;
  nlohmann::json files_, meta_;
};

}  // namespace zeroplan::executor
