// core/system.h — facts about the machine and the process: CPU features, memory use.
#pragma once

#include <cstdint>
#include <string>

namespace si {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
  bool avx_vnni = false;
};

const CpuFeatures& cpu_features();  // detected once, at first use
std::string cpu_features_str();     // "AVX2 FMA F16C AVX512F ..."

uint64_t peak_rss_bytes();          // high-water mark of resident memory (VmHWM)
uint64_t current_rss_bytes();       // VmRSS
double process_cpu_seconds();       // user + system CPU time of all threads so far (getrusage)

// Threads OpenBLAS uses inside one BLAS call, when the process links OpenBLAS (no-op otherwise).
void set_blas_threads(int n);

}  // namespace si
