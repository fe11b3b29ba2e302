#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SI_PAUSE() _mm_pause()
#else
#define SI_PAUSE() ((void)0)
#endif

namespace si {
namespace {

// Waiting: kPause pause instructions (the other thread is usually running and about to finish),
// then yields up to kSpin (on a busy machine the thread we wait for may need our core), then sleep.
constexpr int kPause = 256;
constexpr int kSpin = 1 << 12;

inline void backoff(int spins) {
  if (spins < kPause) SI_PAUSE();
  else std::this_thread::yield();
}

// Range of worker `t` out of `n_threads` over n items in units of `grain`.
void split(int64_t n, int64_t grain, int t, int n_threads, int64_t* begin, int64_t* end) {
  const int64_t units = (n + grain - 1) / grain;
  const int64_t per = units / n_threads, extra = units % n_threads;
  const int64_t ub = t * per + std::min<int64_t>(t, extra);
  const int64_t ue = ub + per + (t < extra ? 1 : 0);
  *begin = std::min(n, ub * grain);
  *end = std::min(n, ue * grain);
}

}  // namespace

int ThreadPool::default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spins = 0; g == seen && !stop_.load(std::memory_order_acquire); ++spins) {
      if (spins < kSpin) {
        backoff(spins);
      } else {
        std::unique_lock<std::mutex> lock(mu_);
        start_cv_.wait(lock, [&] {
          return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
        });
      }
      g = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = g;
    int64_t b, e;
    split(job_n_, job_grain_, index, n_threads_, &b, &e);
    try {
      if (b < e) (*job_)(b, e, index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);  // pairs with the caller's predicate check
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const RangeFn& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n, 0);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  job_grain_ = grain;
  error_ = nullptr;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // Under the lock so that a worker between its predicate check and its sleep cannot miss it.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  int64_t b, e;
  split(n, grain, 0, n_threads_, &b, &e);
  std::exception_ptr mine;
  try {
    if (b < e) fn(b, e, 0);
  } catch (...) {
    mine = std::current_exception();
  }
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0 && spins < kSpin; ++spins) backoff(spins);
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }
  std::lock_guard<std::mutex> lock(mu_);  // error_ is written under mu_
  if (mine) std::rethrow_exception(mine);
  if (error_) std::rethrow_exception(error_);
}

}  // namespace si
