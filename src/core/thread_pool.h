// core/thread_pool.h — the one thread pool: a fixed set of workers running parallel loops.
//
//   si::ThreadPool pool(2);
//   pool.parallel_for(n_rows, [&](int64_t begin, int64_t end, int thread) { ... });
//
// The calling thread takes part in the work (thread index 0), so ThreadPool(1) runs inline with
// no synchronisation. Work is split into n_threads contiguous ranges: kernels get equal shares
// and the same split every call (deterministic reductions).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace si {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  using RangeFn = std::function<void(int64_t begin, int64_t end, int thread)>;
  // Runs fn over [0, n) split into at most size() contiguous ranges of multiples of `grain`
  // (except the last); returns when all are done. Exceptions from workers are rethrown here.
  void parallel_for(int64_t n, const RangeFn& fn, int64_t grain = 1);

  // Default thread count: hardware concurrency (at least 1).
  static int default_threads();

 private:
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const RangeFn* job_ = nullptr;       // written before generation_ is bumped (release)
  int64_t job_n_ = 0;
  int64_t job_grain_ = 1;
  std::atomic<uint64_t> generation_{0};  // bumped (under mu_) for every job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;             // guarded by mu_
};

}  // namespace si
