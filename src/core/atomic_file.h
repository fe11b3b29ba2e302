// core/atomic_file.h — write a file completely or not at all.
//
//   si::AtomicFile out("model.gguf");   // writes "model.gguf.tmp.<pid>" beside it
//   out.write(header.data(), header.size());
//   out.commit();                        // fsync + rename; without commit() the temp file is removed
//
// A crash or error mid-way never leaves a half-written file under the final name.
#pragma once

#include <cstddef>
#include <cstdint>
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

}  // namespace si
