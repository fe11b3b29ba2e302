#include <atomic>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/thread_pool.h"

namespace si {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 17, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int rep = 0; rep < 3; ++rep)
        pool.parallel_for(n, [&](int64_t b, int64_t e, int) { for (int64_t i = b; i < e; ++i) hits[size_t(i)]++; }, 4);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 3) << "threads=" << threads << " n=" << n;
    }
  }
}

TEST(ThreadPool, RangesRespectGrain) {
  ThreadPool pool(3);
  pool.parallel_for(100, [&](int64_t b, int64_t e, int) {
    EXPECT_EQ(b % 8, 0);
    EXPECT_TRUE(e % 8 == 0 || e == 100);
  }, 8);
}

TEST(ThreadPool, RethrowsWorkerErrors) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(10, [](int64_t b, int64_t, int) { if (b > 0) fail("boom"); }), Error);
  int calls = 0;  // still usable afterwards
  pool.parallel_for(1, [&](int64_t, int64_t, int) { ++calls; });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace si
