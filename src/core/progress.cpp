#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace si {

std::string format_duration(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  const int64_t t = int64_t(s + 0.5);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

Progress::Progress(std::string label, int64_t total, std::string unit, bool quiet)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), quiet_(quiet),
      tty_(::isatty(STDERR_FILENO) != 0), start_(Clock::now()), last_draw_(start_) {}

void Progress::advance(int64_t n, const std::string& note) { set(done_ + n, note); }

void Progress::set(int64_t done, const std::string& note) {
  done_ = done;
  if (!note.empty()) note_ = note;
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.25 : 5.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish(const std::string& note) {
  if (!note.empty()) note_ = note;
  draw(true);
}

void Progress::draw(bool final) {
  if (quiet_) return;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? double(done_) / elapsed : 0.0;
  std::string line = fmt::format("{}: {}/{} {} | {:.1f} {}/s | {}", label_, done_, total_, unit_, rate, unit_,
                                 format_duration(elapsed));
  if (!final && rate > 0 && total_ > done_) line += fmt::format(" | ETA {}", format_duration(double(total_ - done_) / rate));
  if (!note_.empty()) line += " | " + note_;
  if (tty_) fmt::print(stderr, "\r\033[K{}{}", line, final ? "\n" : "");
  else fmt::print(stderr, "{}\n", line);
  std::fflush(stderr);
}

}  // namespace si
