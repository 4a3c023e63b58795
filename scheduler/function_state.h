#pragma once

// Scheduler::FunctionState: one function's manifest and version, its queue, its running list
// (ordered by deadline), its runs and retries, and its counters. Internal to scheduler/*.cc.
//
// Thread rules: loop thread only.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/loop.h"
#include "functions/loader.h"
#include "scheduler/function_metrics.h"
#include "scheduler/invocation.h"
#include "scheduler/scheduler.h"

namespace switchyard::scheduler {

struct Scheduler::FunctionState {
  FunctionState(core::MetricsRegistry& registry, std::string function_name)
      : name(std::move(function_name)), metrics(registry, name) {}

  std::string name;
  config::FunctionManifest manifest;
  functions::FunctionPtr current;
  Place place = Place::kWorker;  // Where `current` runs (upsert()).
  FunctionMetrics metrics;
  std::unique_ptr<core::Timer> deadline_timer;  // Fires at the earliest running deadline.
  std::unique_ptr<core::Timer> stall_timer;     // Looks for stalled runs (reclaim_stalled).
  std::deque<Invocation*> queue;
  Invocation* running_head = nullptr;
  Invocation* running_tail = nullptr;
  std::vector<Invocation*> retrying;
  std::vector<Run*> runs;       // Pooled runs whose end has not come back; each holds a slot.
  std::size_t run_members = 0;  // Members of those runs whose result has not come back.
  std::size_t run_limit = 1;    // Members per run: doubles while runs finish within budget.
  int in_flight = 0;
  int running = 0;
  bool removed = false;
  bool starved = false;  // Has refused an event or reported no capacity since it last had room.
  std::uint64_t throttled = 0;
  std::uint64_t retries = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t dead_letters = 0;

  std::size_t capacity() const {
    std::size_t free_slots = in_flight < manifest.concurrency
                                 ? static_cast<std::size_t>(manifest.concurrency - in_flight)
                                 : 0;
    std::size_t queue_limit = static_cast<std::size_t>(manifest.queue);
    std::size_t free_queue = waiting() < queue_limit ? queue_limit - waiting() : 0;
    return free_slots + free_queue;
  }
  // Events waiting for a slot: in the queue, or behind another member of a run.
  std::size_t waiting() const {
    return queue.size() + (run_members > runs.size() ? run_members - runs.size() : 0);
  }
  bool idle() const { return in_flight == 0 && queue.empty() && retrying.empty(); }
  // switchyard_queued follows waiting(), set after each change rather than counted: run members
  // leave the queue before they start.
  void note_waiting() { metrics.queue_depth.set(static_cast<double>(waiting())); }

  void link(Invocation* inv) {
    // Deadlines arrive in order while the timeout stays the same, so this walks one step.
    Invocation* after = running_tail;
    while (after != nullptr && after->deadline > inv->deadline) {
      after = after->prev;
    }
    inv->prev = after;
    inv->next = after != nullptr ? after->next : running_head;
    if (inv->next != nullptr) {
      inv->next->prev = inv;
    } else {
      running_tail = inv;
    }
    if (after != nullptr) {
      after->next = inv;
    } else {
      running_head = inv;
    }
    inv->running = true;
  }
  void unlink(Invocation* inv) {
    if (!inv->running) {
      return;
    }
    (inv->prev != nullptr ? inv->prev->next : running_head) = inv->next;
    (inv->next != nullptr ? inv->next->prev : running_tail) = inv->prev;
    inv->prev = inv->next = nullptr;
    inv->running = false;
  }
};

}  // namespace switchyard::scheduler
