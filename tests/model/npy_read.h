// tests/model/npy_read.h — reads the float32 C-order .npy files of the fixtures and goldens.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/mmap.h"

namespace si::test {

struct Npy {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline Npy read_npy_f32(const std::string& path) {
  const std::string s = read_file(path);
  SI_CHECK(s.size() >= 10 && s.compare(0, 6, "\x93NUMPY") == 0, "{}: not a .npy file", path);
  const size_t hlen = s[6] == 1 ? size_t(uint8_t(s[8])) | size_t(uint8_t(s[9])) << 8 : 0;
  SI_CHECK(hlen > 0, "{}: unsupported .npy version", path);
  const std::string header = s.substr(10, hlen);
  SI_CHECK(header.find("'<f4'") != std::string::npos && header.find("'fortran_order': False") != std::string::npos,
           "{}: expected little-endian float32 C order, header {}", path, header);
  Npy n;
  const size_t a = header.find('(') + 1, b = header.find(')');
  std::string dims = header.substr(a, b - a);
  size_t p = 0;
  int64_t count = 1;
  while (p < dims.size()) {
    const size_t q = dims.find(',', p);
    const std::string d = dims.substr(p, q == std::string::npos ? std::string::npos : q - p);
    if (d.find_first_of("0123456789") != std::string::npos) {
      n.shape.push_back(std::stoll(d));
      count *= n.shape.back();
    }
    if (q == std::string::npos) break;
    p = q + 1;
  }
  SI_CHECK(s.size() == 10 + hlen + size_t(count) * 4, "{}: {} bytes of data, expected {}", path, s.size() - 10 - hlen,
           count * 4);
  n.data.resize(size_t(count));
  std::memcpy(n.data.data(), s.data() + 10 + hlen, size_t(count) * 4);
  return n;
}

}  // namespace si::test
