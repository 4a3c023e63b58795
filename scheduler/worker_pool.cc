#include "scheduler/worker_pool.h"

#include <algorithm>

namespace switchyard::scheduler {

WorkerPool::WorkerPool(PoolOptions options) : options_(options) {
  options_.core_threads = std::max(1, options_.core_threads);
  options_.max_threads = std::max(options_.core_threads, options_.max_threads);
  std::lock_guard<std::mutex> lock(mutex_);
  for (int i = 0; i < options_.core_threads; ++i) {
    spawn_locked(true);
  }
  monitor_ = std::thread([this] { monitor_main(); });
}

WorkerPool::~WorkerPool() {
  stop();
}

void WorkerPool::spawn_locked(bool core) {
  ++threads_;
  ++threads_started_;
  workers_.emplace_back([this, core] { worker_main(core); });
}

void WorkerPool::submit(Job job) {
  bool wake_worker;
  bool wake_monitor;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(job);
    wake_worker = idle_ > signalled_;
    if (wake_worker) {
      ++signalled_;
    }
    // The monitor sleeps without a deadline only while the whole pool is idle; the first job
    // after that starts its watch.
    wake_monitor = monitor_sleeping_;
    if (wake_monitor) {
      monitor_sleeping_ = false;
    }
  }
  if (wake_worker) {
    work_cv_.notify_one();
  }
  if (wake_monitor) {
    monitor_cv_.notify_one();
  }
}

void WorkerPool::submit_many(const std::vector<Job>& jobs) {
  if (jobs.empty()) {
    return;
  }
  int wake = 0;
  bool wake_monitor;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Job& job : jobs) {
      queue_.push_back(job);
    }
    wake = std::min<int>(idle_ - signalled_, static_cast<int>(jobs.size()));
    if (wake < 0) {
      wake = 0;
    }
    signalled_ += wake;
    wake_monitor = monitor_sleeping_;
    if (wake_monitor) {
      monitor_sleeping_ = false;
    }
  }
  for (int i = 0; i < wake; ++i) {
    work_cv_.notify_one();
  }
  if (wake_monitor) {
    monitor_cv_.notify_one();
  }
}

void WorkerPool::worker_main(bool core) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    while (queue_.empty() && !stopping_) {
      ++idle_;
      bool timed_out = false;
      if (core) {
        work_cv_.wait(lock);
      } else {
        timed_out = work_cv_.wait_for(lock, options_.idle_retire) == std::cv_status::timeout;
      }
      if (signalled_ > 0) {
        --signalled_;
      }
      if (timed_out && queue_.empty() && !stopping_) {
        --idle_;
        --threads_;
        exited_.push_back(std::this_thread::get_id());
        monitor_cv_.notify_one();
        return;
      }
      --idle_;
    }
    if (queue_.empty()) {
      // Stopping and nothing left to run.
      --threads_;
      return;
    }
    Job job = queue_.front();
    queue_.pop_front();
    ++jobs_started_;
    lock.unlock();
    job.run(job.arg);
    lock.lock();
  }
}

void WorkerPool::monitor_main() {
  std::unique_lock<std::mutex> lock(mutex_);
  std::uint64_t started_seen = jobs_started_;
  while (!stopping_) {
    // Join threads that retired themselves.
    if (!exited_.empty()) {
      // Retiring workers keep adding to exited_ while the lock is released for a join.
      std::vector<std::thread::id> exited;
      exited.swap(exited_);
      for (auto id : exited) {
        auto it = std::find_if(workers_.begin(), workers_.end(),
                               [id](const std::thread& t) { return t.get_id() == id; });
        if (it != workers_.end()) {
          std::thread finished = std::move(*it);
          workers_.erase(it);
          lock.unlock();
          finished.join();
          lock.lock();
        }
      }
      continue;
    }
    if (queue_.empty() && idle_ == threads_) {
      monitor_sleeping_ = true;
      monitor_cv_.wait(lock);
      monitor_sleeping_ = false;
      started_seen = jobs_started_;
      continue;
    }
    monitor_cv_.wait_for(lock, options_.starvation_delay);
    if (stopping_) {
      break;
    }
    if (!queue_.empty() && idle_ == 0 && jobs_started_ == started_seen) {
      // Every worker is inside a function that has not returned for a whole starvation delay,
      // and jobs wait: give each waiting job a thread, within the ceiling.
      int wanted = static_cast<int>(queue_.size());
      int room = options_.max_threads - threads_;
      for (int i = 0; i < std::min(wanted, room); ++i) {
        spawn_locked(false);
      }
    }
    started_seen = jobs_started_;
  }
}

void WorkerPool::set_max_threads(int max_threads) {
  std::lock_guard<std::mutex> lock(mutex_);
  options_.max_threads = std::max(options_.core_threads, max_threads);
}

void WorkerPool::stop() {
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && workers_.empty() && !monitor_.joinable()) {
      return;
    }
    stopping_ = true;
  }
  work_cv_.notify_all();
  monitor_cv_.notify_all();
  if (monitor_.joinable()) {
    monitor_.join();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& worker : workers) {
    worker.join();
  }
}

int WorkerPool::thread_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return threads_;
}

std::size_t WorkerPool::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

std::uint64_t WorkerPool::threads_started() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return threads_started_;
}

std::uint64_t WorkerPool::jobs_started() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return jobs_started_;
}

}  // namespace switchyard::scheduler
