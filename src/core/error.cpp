#include "core/error.h"

namespace si {

void Error::compose() {
  std::string s;
  if (!path_.empty()) {
    s = path_;
    if (line_) s += fmt::format(":{}", *line_);
    s += ": ";
  }
  s += message_;
  if (offset_) s += fmt::format(" (at byte {})", *offset_);
  if (!hint_.empty()) s += "; " + hint_;
  full_ = std::move(s);
}

}  // namespace si
