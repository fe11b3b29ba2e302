#include "core/error.h"

namespace si {

void Error::compose() {
  // fmt::format rather than string appends: g++ 12 warns falsely (-Wrestrict) on the appends.
  const std::string where = path_.empty() ? std::string() : line_ ? fmt::format("{}:{}: ", path_, *line_) : fmt::format("{}: ", path_);
  const std::string offset = offset_ ? fmt::format(" (at byte {})", *offset_) : std::string();
  const std::string hint = hint_.empty() ? std::string() : fmt::format("; {}", hint_);
  full_ = fmt::format("{}{}{}{}", where, message_, offset, hint);
}

}  // namespace si
