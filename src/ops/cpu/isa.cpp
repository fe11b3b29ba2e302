#include "ops/cpu/isa.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/system.h"

namespace si::cpu {
namespace {

int g_override = -1;  // -1: none

Isa detect() {
  const auto& f = cpu_features();
  Isa best = Isa::Scalar;
  if (f.avx2 && f.fma && f.f16c) best = Isa::Avx2;
  if (best == Isa::Avx2 && f.avx512f && f.avx512bw && f.avx512vl) best = Isa::Avx512;
  if (const char* cap = std::getenv("SI_ISA")) {
    Isa want = best;
    if (std::strcmp(cap, "scalar") == 0) want = Isa::Scalar;
    else if (std::strcmp(cap, "avx2") == 0) want = Isa::Avx2;
    else if (std::strcmp(cap, "avx512") == 0) want = Isa::Avx512;
    if (int(want) < int(best)) best = want;
  }
  return best;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  const auto& f = cpu_features();
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return f.avx2 && f.fma && f.f16c;
    case Isa::Avx512: return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl;
  }
  return false;
}

Isa isa_best() {
  static const Isa best = detect();
  return best;
}

Isa isa_active() { return g_override >= 0 ? Isa(g_override) : isa_best(); }

IsaOverride::IsaOverride(Isa isa) : previous_(g_override) {
  SI_CHECK(isa_supported(isa), "this CPU has no {} support", isa_name(isa));
  g_override = int(isa);
}

IsaOverride::~IsaOverride() { g_override = previous_; }

}  // namespace si::cpu
