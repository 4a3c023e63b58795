#include "triggers/kafka/client_release.h"

#include <librdkafka/rdkafka.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

namespace switchyard::triggers::kafka {

namespace {

// The threads destroying clients. A finished thread is joined by the next release_client(), or
// at exit by the destructor (by then every thread has finished, or the process left with
// std::_Exit, which runs no destructor).
class Releaser {
 public:
  ~Releaser() {
    std::list<Release> all;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      all.swap(releases_);
    }
    for (auto& release : all) {
      release.thread.join();
    }
  }

  void release(rd_kafka_t* rk, int flags) {
    std::list<Release> finished;
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = releases_.begin(); it != releases_.end();) {
      auto next = std::next(it);
      if (it->done) {
        finished.splice(finished.end(), releases_, it);
      }
      it = next;
    }
    ++pending_;
    Release& release = releases_.emplace_back();
    release.thread = std::thread([this, rk, flags, &release] {
      rd_kafka_destroy_flags(rk, flags);
      std::lock_guard<std::mutex> inner(mutex_);
      release.done = true;  // A list node: it stays where it is until it is joined.
      --pending_;
      destroyed_.notify_all();
    });
    for (auto& done : finished) {
      done.thread.join();  // Finished: returns at once.
    }
  }

  bool await(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return destroyed_.wait_for(lock, timeout, [this] { return pending_ == 0; });
  }

 private:
  struct Release {
    bool done = false;  // Under mutex_.
    std::thread thread;
  };

  std::mutex mutex_;
  std::condition_variable destroyed_;
  std::list<Release> releases_;
  std::size_t pending_ = 0;
};

Releaser& releaser() {
  static Releaser instance;
  return instance;
}

}  // namespace

void release_client(rd_kafka_t* rk, int flags) {
  releaser().release(rk, flags);
}

bool await_released_clients(std::chrono::milliseconds timeout) {
  return releaser().await(timeout);
}

}  // namespace switchyard::triggers::kafka
