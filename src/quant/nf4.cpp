#include "quant/nf4.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace si {

namespace {

// bitsandbytes' NF4 table (functional.py get_4bit_type("nf4")).
constexpr float kNf4Code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
    0.7229568362236023f, 1.0f};

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), computed in float32 as torch does.
struct DynamicMap {
  float v[256];
  DynamicMap() {
    std::vector<float> data;
    for (int i = 0; i < 7; i++) {
      const int n = (1 << i) + 1;  // fraction_items
      std::vector<float> bnd(static_cast<size_t>(n));
      const float step = (1.0f - 0.1f) / float(n - 1);
      // torch.linspace: start + i*step for the first half, end - (n-1-i)*step for the rest
      for (int j = 0; j < n; j++) bnd[size_t(j)] = j < n / 2 ? 0.1f + step * float(j) : 1.0f - step * float(n - 1 - j);
      const float scale = float(std::pow(10.0, double(-6 + i)));
      for (int j = 0; j + 1 < n; j++) {
        const float mean = (bnd[size_t(j)] + bnd[size_t(j + 1)]) / 2.0f;
        data.push_back(scale * mean);
        data.push_back(-scale * mean);
      }
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    std::sort(data.begin(), data.end());
    std::copy(data.begin(), data.end(), v);
  }
};

const DynamicMap& dynamic_map() {
  static const DynamicMap m;
  return m;
}

uint8_t dq_quantize_value(float x) {  // nearest entry of the sorted dynamic map
  const float* c = dynamic_map().v;
  const float* it = std::lower_bound(c, c + 256, x);
  if (it == c) return 0;
  if (it == c + 256) return 255;
  const int hi = int(it - c);
  return uint8_t((x - c[hi - 1]) <= (c[hi] - x) ? hi - 1 : hi);
}

}  // namespace

const float* nf4_code() { return kNf4Code; }
const float* nf4_dq_code() { return dynamic_map().v; }

uint8_t nf4_quantize_value(float x) {
  // bitsandbytes dQuantizeNF4: thresholds are the midpoints between neighbouring codes.
  if (x > 0.03979014977812767f) {
    if (x > 0.3893125355243683f) {
      if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 15 : 14;
      return x > 0.5016634166240692f ? 13 : 12;
    }
    if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 11 : 10;
    return x > 0.1202552504837513f ? 9 : 8;
  }
  if (x > -0.33967943489551544f) {
    if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 7 : 6;
    return x > -0.23460740596055984f ? 5 : 4;
  }
  if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 3 : 2;
  return x > -0.8480964004993439f ? 1 : 0;
}

float Nf4Tensor::block_absmax(int64_t b) const {
  if (!double_quant) return absmax[size_t(b)];
  return nf4_dq_code()[absmax_q[size_t(b)]] * absmax2[size_t(b / kNf4ScaleBlock)] + absmax_offset;
}

uint64_t Nf4Tensor::bytes() const {
  return packed.size() + absmax.size() * 4 + absmax_q.size() + absmax2.size() * 4 + 4;
}

Nf4Tensor nf4_quantize(const float* x, int64_t n, bool double_quant) {
  SI_CHECK(n >= 0, "nf4_quantize: negative size {}", n);
  Nf4Tensor q;
  q.numel = n;
  q.double_quant = double_quant;
  q.packed.assign(size_t((n + 1) / 2), 0);
  const int64_t nb = q.n_blocks();
  std::vector<float> absmax(static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; b++) {
    const int64_t i0 = b * kNf4Block, i1 = std::min(n, i0 + kNf4Block);
    float amax = 0.0f;
    for (int64_t i = i0; i < i1; i++) amax = std::max(amax, std::fabs(x[i]));
    absmax[size_t(b)] = amax;
    const float inv = amax > 0.0f ? 1.0f / amax : 0.0f;  // bitsandbytes multiplies by 1/absmax
    for (int64_t i = i0; i < i1; i++) {
      const uint8_t code = amax > 0.0f ? nf4_quantize_value(x[i] * inv) : uint8_t(7);
      q.packed[size_t(i / 2)] |= uint8_t(i % 2 == 0 ? code << 4 : code);
    }
  }
  if (!double_quant) {
    q.absmax = std::move(absmax);
    return q;
  }
  // Double quantization (QLoRA section 3): absmax - mean, then 8-bit blockwise with the dynamic map.
  double sum = 0;
  for (float a : absmax) sum += a;
  q.absmax_offset = nb ? float(sum / double(nb)) : 0.0f;
  const int64_t nb2 = (nb + kNf4ScaleBlock - 1) / kNf4ScaleBlock;
  q.absmax_q.resize(size_t(nb));
  q.absmax2.resize(size_t(nb2));
  for (int64_t b2 = 0; b2 < nb2; b2++) {
    const int64_t j0 = b2 * kNf4ScaleBlock, j1 = std::min(nb, j0 + kNf4ScaleBlock);
    float amax = 0.0f;
    for (int64_t j = j0; j < j1; j++) amax = std::max(amax, std::fabs(absmax[size_t(j)] - q.absmax_offset));
    q.absmax2[size_t(b2)] = amax;
    const float inv = amax > 0.0f ? 1.0f / amax : 0.0f;
    for (int64_t j = j0; j < j1; j++) q.absmax_q[size_t(j)] = dq_quantize_value((absmax[size_t(j)] - q.absmax_offset) * inv);
  }
  return q;
}

void nf4_dequantize_range(const Nf4Tensor& q, int64_t begin, int64_t end, float* out) {
  SI_CHECK(begin >= 0 && begin <= end && end <= q.numel, "nf4_dequantize_range: [{}, {}) outside [0, {})", begin, end,
           q.numel);
  int64_t cur_block = -1;
  float scale = 0.0f;
  for (int64_t i = begin; i < end; i++) {
    const int64_t b = i / kNf4Block;
    if (b != cur_block) {
      cur_block = b;
      scale = q.block_absmax(b);
    }
    const uint8_t byte = q.packed[size_t(i / 2)];
    const uint8_t code = i % 2 == 0 ? uint8_t(byte >> 4) : uint8_t(byte & 15);
    out[i - begin] = kNf4Code[code] * scale;
  }
}

void nf4_dequantize(const Nf4Tensor& q, float* out) { nf4_dequantize_range(q, 0, q.numel, out); }

}  // namespace si
