// core/atomic_file.h — write a file completely or not at all.
//
//   si::AtomicFile out("model.gguf");   // writes "model.gguf.tmp.<pid>" beside it
//   out.write(header.data(), header.size());
//   out.commit();                        // fsync + rename; without commit() the temp file is removed
//
// A crash or error mid-way never leaves a half-written file under the final name.
//
//   si::require_new_dir(out);                                    // before the long work
//   si::write_dir_atomic(out, [&](const std::filesystem::path& tmp) { ... write into tmp ... });
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace si {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void write_zeros(size_t n);
  uint64_t bytes_written() const { return written_; }
  void commit();  // flush, fsync, rename over the final path, fsync the directory

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Convenience: atomically replaces `path` with `contents`.
void write_file_atomic(const std::string& path, std::string_view contents);

// Throws a one-line si::Error unless `dir` is absent or an empty directory (an output directory is
// never merged into or overwritten).
void require_new_dir(const std::string& dir);

// Makes directory `dir` completely or not at all: `fill` writes into a temporary directory beside it
// (".<name>.tmp-<pid>"), which is renamed to `dir` when fill returns and removed when it throws.
// `dir` must pass require_new_dir.
void write_dir_atomic(const std::string& dir, const std::function<void(const std::filesystem::path& tmp)>& fill);

}  // namespace si
