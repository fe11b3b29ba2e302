#include "core/system.h"

#include <cpuid.h>
#include <sys/resource.h>

#include <fstream>
#include <string>

// OpenBLAS's thread count, when the BLAS linked into the process is OpenBLAS (weak: absent elsewhere).
extern "C" void openblas_set_num_threads(int n) __attribute__((weak));

namespace si {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  const bool ymm = (xcr0 & 0x6) == 0x6;
  const bool zmm = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = ymm && ((b >> 5) & 1);
  f.fma = f.fma && ymm;
  f.f16c = f.f16c && ymm;
  f.avx512f = zmm && ((b >> 16) & 1);
  f.avx512bw = zmm && ((b >> 30) & 1);
  f.avx512vl = zmm && ((b >> 31) & 1);
  f.avx512vnni = zmm && ((c >> 11) & 1);
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
    f.avx_vnni = ymm && ((a >> 4) & 1);
    f.avx512bf16 = zmm && ((a >> 5) & 1);
  }
  return f;
}

uint64_t status_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(in, line))
    if (line.compare(0, k.size(), k) == 0) return std::stoull(line.substr(k.size()));
  return 0;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string cpu_features_str() {
  const auto& f = cpu_features();
  std::string s;
  auto add = [&](bool on, const char* name) { if (on) { if (!s.empty()) s += ' '; s += name; } };
  add(f.avx2, "AVX2"); add(f.fma, "FMA"); add(f.f16c, "F16C"); add(f.avx_vnni, "AVX_VNNI");
  add(f.avx512f, "AVX512F"); add(f.avx512bw, "AVX512BW"); add(f.avx512vl, "AVX512VL");
  add(f.avx512vnni, "AVX512_VNNI"); add(f.avx512bf16, "AVX512_BF16");
  return s.empty() ? "scalar" : s;
}

uint64_t peak_rss_bytes() { return status_kib("VmHWM") * 1024; }
uint64_t current_rss_bytes() { return status_kib("VmRSS") * 1024; }

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
  return s(u.ru_utime) + s(u.ru_stime);
}

void set_blas_threads(int n) {
  if (openblas_set_num_threads) openblas_set_num_threads(n);
}

}  // namespace si
