#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

#include "core/arena.h"

namespace si {
namespace {

TEST(Arena, AlignsAndCountsBytes) {
  Arena a("test", 4096);
  auto* p = a.alloc<float>(10);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(a.bytes_used(), 40u);
  auto* q = a.alloc<float>(3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
  EXPECT_EQ(a.bytes_used(), 64u + 12u);
  EXPECT_EQ(a.bytes_reserved(), 4096u);
  std::memset(p, 1, 40);
  std::memset(q, 2, 12);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(p)[39], 1);
}

TEST(Arena, LargeRequestGetsItsOwnChunk) {
  Arena a("test", 4096);
  a.alloc_bytes(100);
  void* big = a.alloc_bytes(1 << 20);
  std::memset(big, 0, 1 << 20);
  EXPECT_GE(a.bytes_reserved(), 4096u + (1u << 20));
  a.reset();
  EXPECT_EQ(a.bytes_used(), 0u);
  EXPECT_EQ(a.bytes_reserved(), 0u);
}

}  // namespace
}  // namespace si
