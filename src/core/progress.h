// core/progress.h — a one-line progress report for long work: done/total, rate, ETA.
//
//   si::Progress p("quantize", n_tensors, "tensors");
//   for (...) { ...; p.advance(); }
//   p.finish();
//
// Writes to stderr, at most a few times a second; rewrites the line on a terminal and prints a
// line every few seconds otherwise (logs stay readable). `quiet` turns it off.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace si {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "items", bool quiet = false);
  void advance(int64_t n = 1, const std::string& note = "");
  void set(int64_t done, const std::string& note = "");
  void finish(const std::string& note = "");

 private:
  void draw(bool final);
  using Clock = std::chrono::steady_clock;
  std::string label_, unit_, note_;
  int64_t total_, done_ = 0;
  bool quiet_, tty_;
  Clock::time_point start_, last_draw_;
};

// Seconds as "1h02m", "3m05s", "12.3s".
std::string format_duration(double seconds);

}  // namespace si
