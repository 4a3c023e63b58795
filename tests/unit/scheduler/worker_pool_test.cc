#include "scheduler/worker_pool.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace switchyard::scheduler;
using namespace std::chrono_literals;

namespace {

template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("every submitted job runs, from many submitting threads") {
  WorkerPool pool(PoolOptions{2, 2, 5ms, 30s});
  std::atomic<int> ran{0};
  auto job = Job{[](void* arg) { static_cast<std::atomic<int>*>(arg)->fetch_add(1); }, &ran};
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        pool.submit(job);
      }
    });
  }
  for (auto& producer : producers) {
    producer.join();
  }
  CHECK(wait_for([&] { return ran.load() == 20000; }));
  pool.stop();
  CHECK(ran.load() == 20000);
}

TEST_CASE("stop runs what is queued, then joins") {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(PoolOptions{1, 1, 5ms, 30s});
    for (int i = 0; i < 100; ++i) {
      pool.submit(Job{[](void* arg) {
                        std::this_thread::sleep_for(100us);
                        static_cast<std::atomic<int>*>(arg)->fetch_add(1);
                      },
                      &ran});
    }
    pool.stop();
    CHECK(pool.thread_count() == 0);
  }
  CHECK(ran.load() == 100);
}

TEST_CASE("blocked workers get company: jobs do not wait behind functions that block") {
  WorkerPool pool(PoolOptions{2, 16, 5ms, 30s});
  std::atomic<bool> release{false};
  std::atomic<int> blocked{0};
  struct State {
    std::atomic<bool>* release;
    std::atomic<int>* blocked;
  } state{&release, &blocked};
  auto blocking = Job{[](void* arg) {
                        auto* s = static_cast<State*>(arg);
                        s->blocked->fetch_add(1);
                        while (!s->release->load()) {
                          std::this_thread::sleep_for(1ms);
                        }
                      },
                      &state};
  for (int i = 0; i < 4; ++i) {
    pool.submit(blocking);
  }
  std::atomic<bool> quick_ran{false};
  pool.submit(
      Job{[](void* arg) { static_cast<std::atomic<bool>*>(arg)->store(true); }, &quick_ran});
  // Two core threads are stuck; the pool must add threads for the other three jobs.
  CHECK(wait_for([&] { return blocked.load() == 4 && quick_ran.load(); }, 2s));
  CHECK(pool.thread_count() >= 5);
  CHECK(pool.thread_count() <= 16);
  release = true;
  pool.stop();
}

TEST_CASE("the thread ceiling holds however many jobs block") {
  WorkerPool pool(PoolOptions{1, 3, 2ms, 30s});
  std::atomic<bool> release{false};
  std::atomic<int> running{0};
  struct State {
    std::atomic<bool>* release;
    std::atomic<int>* running;
  } state{&release, &running};
  for (int i = 0; i < 10; ++i) {
    pool.submit(Job{[](void* arg) {
                      auto* s = static_cast<State*>(arg);
                      s->running->fetch_add(1);
                      while (!s->release->load()) {
                        std::this_thread::sleep_for(1ms);
                      }
                    },
                    &state});
  }
  CHECK(wait_for([&] { return running.load() == 3; }, 2s));
  std::this_thread::sleep_for(30ms);  // Give the monitor every chance to overshoot.
  CHECK(running.load() == 3);
  CHECK(pool.thread_count() == 3);
  release = true;
  CHECK(wait_for([&] { return pool.queued() == 0; }));
  pool.stop();
  CHECK(running.load() == 10);
}
