#pragma once

// The worker threads that run function invocations.
//
// `core_threads` threads are kept; when jobs wait while no job has started for
// `starvation_delay` (every worker is busy in a function that blocks), the pool adds threads,
// up to `max_threads`, and retires the extra ones after `idle_retire` without work. This is
// what keeps a function that sleeps or hangs from delaying another function that still has
// free slots: the scheduler never submits more jobs than the functions' concurrency limits
// allow, so with max_threads at least their sum, every admitted invocation gets a thread.
//
// Thread rules: submit() and stats are safe from any thread; stop() from the owning thread.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace switchyard::scheduler {

struct Job {
  void (*run)(void* arg) = nullptr;
  void* arg = nullptr;
};

struct PoolOptions {
  int core_threads = 2;
  int max_threads = 256;
  std::chrono::milliseconds starvation_delay{5};
  std::chrono::milliseconds idle_retire{30000};
};

class WorkerPool {
 public:
  explicit WorkerPool(PoolOptions options);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues a job; it runs on some worker thread. Safe from any thread.
  void submit(Job job);
  // Queues several jobs under one lock with at most one wake-up per idle worker.
  void submit_many(const std::vector<Job>& jobs);

  // Raises or lowers the ceiling on threads (the scheduler sets it to the total concurrency).
  void set_max_threads(int max_threads);

  // Runs every queued job, then joins every thread. Idempotent.
  void stop();

  int thread_count() const;
  std::size_t queued() const;
  std::uint64_t threads_started() const;
  std::uint64_t jobs_started() const;

 private:
  void worker_main(bool core);
  void monitor_main();
  void spawn_locked(bool core);

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable monitor_cv_;
  std::deque<Job> queue_;
  int threads_ = 0;
  int idle_ = 0;
  int signalled_ = 0;  // Idle workers already notified and not yet awake.
  bool stopping_ = false;
  bool monitor_sleeping_ = false;
  std::uint64_t jobs_started_ = 0;
  std::uint64_t threads_started_ = 0;
  std::vector<std::thread> workers_;
  std::vector<std::thread::id> exited_;
  std::thread monitor_;
};

}  // namespace switchyard::scheduler
