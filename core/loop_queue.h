#pragma once

// A many-producer queue whose consumer is the loop thread: workers push results, one uv_async
// wakes the loop, and the loop drains everything pending at each wake-up.
//
// Thread rules: push_many() from any thread; the drain callback runs on the loop thread. The
// async is signalled only when the queue goes from empty to non-empty, so a burst of pushes costs
// one wake-up.

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "core/loop.h"

namespace switchyard::core {

template <typename T>
class LoopQueue {
 public:
  using Drain = std::function<void(std::vector<T>& items)>;

  LoopQueue(Loop& loop, Drain drain)
      : drain_(std::move(drain)), async_(loop, [this] { drain_pending(); }) {}

  // Safe from any thread: pushes several items with one lock and at most one wake-up.
  void push_many(std::vector<T>& items) {
    if (items.empty()) {
      return;
    }
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      was_empty = pending_.empty();
      for (T& item : items) {
        pending_.push_back(std::move(item));
      }
    }
    items.clear();
    if (was_empty) {
      async_.send();
    }
  }

  // unref() lets the loop exit while nothing is expected on the queue; ref() undoes it.
  void ref() { async_.ref(); }
  void unref() { async_.unref(); }

  // Loop thread: drains now (used at shutdown, after the producers are joined).
  void drain_pending() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      draining_.swap(pending_);
    }
    if (!draining_.empty()) {
      drain_(draining_);
      draining_.clear();
    }
  }

 private:
  Drain drain_;
  std::mutex mutex_;
  std::vector<T> pending_;
  std::vector<T> draining_;  // Loop thread only; kept to reuse its capacity.
  Async async_;
};

}  // namespace switchyard::core
