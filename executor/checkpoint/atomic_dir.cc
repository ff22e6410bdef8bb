#include "executor/checkpoint/atomic_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "planner/error.h"

namespace zeroplan::executor {

namespace fs = std::filesystem;

std::uint64_t checksum64(const void* data, std::size_t bytes, std::uint64_t seed) {
  // Per 8-byte word: h = rotl(h ^ w, 31) * K; the tail bytes are folded in one at a time and the
  // length last, so truncation changes the result.
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = seed ^ 0xCBF29CE484222325ull;
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h ^= w;
    h = ((h << 31) | (h >> 33)) * kMul;
  }
  for (; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  h ^= static_cast<std::uint64_t>(bytes);
  h ^= h >> 29;
  return h * kMul;
}

namespace {

std::string errno_text() { return std::strerror(errno); }

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw InputError(path + ": cannot open for fsync (" + errno_text() + ")");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw InputError(path + ": fsync failed (" + errno_text() + ")");
}

void write_all(const std::string& path, const void* data, std::size_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError(path + ": cannot create (" + errno_text() + ")");
  const auto* p = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::write(fd, p + done, std::min<std::size_t>(bytes - done, 1 << 26));
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      throw InputError(path + ": write failed (" + why + ")");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw InputError(path + ": fsync/close failed (" + errno_text() + ")");
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

AtomicDirWriter::AtomicDirWriter(std::string parent, std::string name)
    : parent_(std::move(parent)), name_(std::move(name)) {
  std::error_code ec;
  fs::create_directories(parent_, ec);
  if (ec) throw InputError(parent_ + ": cannot create directory (" + ec.message() + ")");
  tmp_ = parent_ + "/." + name_ + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp_, ec);
  if (!fs::create_directory(tmp_, ec) || ec) throw InputError(tmp_ + ": cannot create directory (" + ec.message() + ")");
}

std::string atomic_tmp_dir(const std::string& parent, const std::string& name, const std::string& tmp_suffix) {
  return parent + "/." + name + ".tmp-" + tmp_suffix;
}

void write_file_synced(const std::string& path, const void* data, std::size_t bytes) { write_all(path, data, bytes); }

std::string checksum_hex(const void* data, std::size_t bytes) { return hex64(checksum64(data, bytes)); }

AtomicDirWriter::AtomicDirWriter(std::string parent, std::string name, const std::string& tmp_suffix)
    : parent_(std::move(parent)), name_(std::move(name)) {
  std::error_code ec;
  fs::create_directories(parent_, ec);
  if (ec) throw InputError(parent_ + ": cannot create directory (" + ec.message() + ")");
  tmp_ = atomic_tmp_dir(parent_, name_, tmp_suffix);
  fs::remove_all(tmp_, ec);
  if (!fs::create_directory(tmp_, ec) || ec) throw InputError(tmp_ + ": cannot create directory (" + ec.message() + ")");
}

void AtomicDirWriter::adopt_file(const std::string& file, std::size_t bytes, const std::string& checksum) {
  ZP_ASSERT(!committed_, "adopt after commit");
  files_[file] = {{"bytes", bytes}, {"checksum", checksum}};
}

AtomicDirWriter::~AtomicDirWriter() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

void AtomicDirWriter::write_file(const std::string& file, const void* data, std::size_t bytes) {
  ZP_ASSERT(!committed_, "write after commit");
  write_all(tmp_ + "/" + file, data, bytes);
  files_[file] = {{"bytes", bytes}, {"checksum", hex64(checksum64(data, bytes))}};
}

std::string AtomicDirWriter::commit(const nlohmann::json& meta) {
  ZP_ASSERT(!committed_, "commit twice");
  const nlohmann::json manifest = {{"format", kCheckpointFormat}, {"files", files_}, {"meta", meta}};
  const std::string text = manifest.dump(1);
  // The manifest is the completion marker: written (and synced) after every other file.
  write_all(tmp_ + "/manifest.json", text.data(), text.size());
  fsync_path(tmp_, true);
  const std::string final_dir = parent_ + "/" + name_;
  std::error_code ec;
  std::string aside;
  if (fs::exists(final_dir, ec)) {
    aside = parent_ + "/." + name_ + ".old-" + std::to_string(::getpid());
    fs::remove_all(aside, ec);
    fs::rename(final_dir, aside, ec);
    if (ec) throw InputError(final_dir + ": cannot replace (" + ec.message() + ")");
  }
  fs::rename(tmp_, final_dir, ec);
  if (ec) throw InputError(final_dir + ": cannot rename checkpoint into place (" + ec.message() + ")");
  committed_ = true;
  fsync_path(parent_, true);
  if (!aside.empty()) fs::remove_all(aside, ec);
  return final_dir;
}

void write_latest_pointer(const std::string& parent, const std::string& name) {
  const std::string tmp = parent + "/latest.tmp";
  const std::string line = name + "\n";
  write_all(tmp, line.data(), line.size());
  std::error_code ec;
  fs::rename(tmp, parent + "/latest", ec);
  if (ec) throw InputError(parent + "/latest: cannot update (" + ec.message() + ")");
  fsync_path(parent, true);
}

std::string resolve_checkpoint_dir(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) throw InputError(path + ": no such checkpoint directory");
  if (fs::exists(path + "/manifest.json", ec)) return path;
  for (const std::string& folder : {path, path + "/checkpoints"}) {
    const std::string latest = folder + "/latest";
    if (!fs::exists(latest, ec)) continue;
    std::ifstream in(latest);
    std::string name;
    std::getline(in, name);
    if (name.empty() || name.find('/') != std::string::npos)
      throw InputError(latest + ": does not name a checkpoint");
    const std::string dir = folder + "/" + name;
    if (!fs::exists(dir + "/manifest.json", ec))
      throw InputError(latest + ": points at " + name + ", which is not a complete checkpoint");
    return dir;
  }
  throw InputError(path + ": not a checkpoint (no manifest.json) and no 'latest' pointer in it or in its checkpoints/");
}

CheckpointDirReader::CheckpointDirReader(std::string dir) : dir_(std::move(dir)) {
  const std::string path = dir_ + "/manifest.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": missing (the checkpoint is incomplete)");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception&) {
    throw InputError(path + ": corrupt manifest (not valid JSON)");
  }
  if (!manifest.is_object() || manifest.value("format", "") != kCheckpointFormat || !manifest.contains("files") ||
      !manifest["files"].is_object() || !manifest.contains("meta"))
    throw InputError(path + ": not a " + std::string(kCheckpointFormat) + " manifest");
  files_ = manifest["files"];
  meta_ = manifest["meta"];
}

std::size_t CheckpointDirReader::file_bytes(const std::string& file) const {
  if (!files_.contains(file)) throw InputError(dir_ + ": checkpoint has no file " + file);
  return files_[file].at("bytes").get<std::size_t>();
}

void CheckpointDirReader::read_file(const std::string& file, void* data, std::size_t bytes) const {
  const std::string path = dir_ + "/" + file;
  const std::size_t expected = file_bytes(file);
  if (expected != bytes)
    throw InputError(path + ": holds " + std::to_string(expected) + " bytes but this run needs " +
                     std::to_string(bytes) + " (a different model or precision?)");
  std::error_code ec;
  const auto on_disk = fs::file_size(path, ec);
  if (ec || on_disk != expected)
    throw InputError(path + ": corrupt or truncated checkpoint file (" + std::to_string(ec ? 0 : on_disk) +
                     " bytes, manifest says " + std::to_string(expected) + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in.read(static_cast<char*>(data), static_cast<std::streamsize>(bytes)))
    throw InputError(path + ": read failed");
  if (hex64(checksum64(data, bytes)) != files_[file].at("checksum").get<std::string>())
    throw InputError(path + ": corrupt checkpoint file (checksum mismatch)");
}

}  // namespace zeroplan::executor
