// core/mmap.h — read-only memory-mapped files (weights are mapped, never copied).
//
//   si::MappedFile f("model.gguf");
//   const uint8_t* p = f.data(); size_t n = f.size();
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace si {

class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);  // throws si::Error naming the path
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string; throws si::Error naming the path.
std::string read_file(const std::string& path);

}  // namespace si
