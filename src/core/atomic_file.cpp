#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace si {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_path_ = fmt::format("{}.tmp.{}", path_, ::getpid());
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot create file: {}", std::strerror(errno))).at(path_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("write failed: {}", std::strerror(errno))).at(path_, written_);
    }
    p += w;
    n -= size_t(w);
    written_ += uint64_t(w);
  }
}

void AtomicFile::write_zeros(size_t n) {
  static const char zeros[4096] = {};
  while (n > 0) {
    const size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
    write(zeros, k);
    n -= k;
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) throw Error(fmt::format("fsync failed: {}", std::strerror(errno))).at(path_);
  ::close(fd_);
  fd_ = -1;
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw Error(fmt::format("cannot rename temp file into place: {}", std::strerror(errno))).at(path_);
  committed_ = true;
  // Make the rename itself durable.
  std::string dir = std::filesystem::path(path_).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

void require_new_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(dir) && !(fs::is_directory(dir) && fs::is_empty(dir)))
    throw Error("output exists and is not an empty directory").at(dir).hint("choose a new --out or remove it");
}

void write_dir_atomic(const std::string& dir, const std::function<void(const std::filesystem::path& tmp)>& fill) {
  namespace fs = std::filesystem;
  require_new_dir(dir);
  fs::path final_dir = fs::absolute(fs::path(dir)).lexically_normal();
  if (!final_dir.has_filename()) final_dir = final_dir.parent_path();  // "out/" names "out"
  const fs::path tmp = final_dir.parent_path() / fmt::format(".{}.tmp-{}", final_dir.filename().string(), ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    fill(tmp);
    if (fs::exists(final_dir)) fs::remove(final_dir);  // empty (require_new_dir)
    fs::rename(tmp, final_dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace si
