// core/error.h — the one error type of shopintent.
//
//   throw si::Error(fmt::format("expected {} bytes, got {}", want, got)).at(path, offset);
//   SI_CHECK(n_head % n_kv == 0, "n_head {} not a multiple of n_kv_head {}", n_head, n_kv);
//
// Every error is one line a user can act on: what is wrong, where (file and byte offset or
// line when known), and, where there is one, what to do. The CLI prints what() and exits 1.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace si {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message) : std::runtime_error(message), message_(std::move(message)) {}

  // Adds "<path>: " (and "at byte N" / "line N") in front of the message.
  Error& at(const std::string& path) { path_ = path; compose(); return *this; }
  Error& at(const std::string& path, uint64_t offset) { path_ = path; offset_ = offset; compose(); return *this; }
  Error& at_line(const std::string& path, uint64_t line) { path_ = path; line_ = line; compose(); return *this; }
  Error& hint(const std::string& what_to_do) { hint_ = what_to_do; compose(); return *this; }

  const char* what() const noexcept override { return full_.empty() ? message_.c_str() : full_.c_str(); }
  const std::string& message() const { return message_; }
  const std::string& path() const { return path_; }

 private:
  void compose();

  std::string message_;
  std::string path_;
  std::optional<uint64_t> offset_;
  std::optional<uint64_t> line_;
  std::string hint_;
  std::string full_;
};

// Throws si::Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace si

#define SI_CHECK(cond, ...)                 \
  do {                                      \
    if (!(cond)) ::si::fail(__VA_ARGS__);   \
  } while (0)
