#pragma once

// Scheduler::Invocation: one event, or one batch, on its way through its function, from its
// admission to its completion; recycled afterwards (Scheduler::acquire(), recycle()). Internal
// to scheduler/*.cc.
//
// Thread rules: the loop owns it, but while a worker runs it. From the hand-off until its result
// comes back, the worker writes `outcome`, `seconds` and then `finished`; the two share `event`
// through `contents` (EventContents) and `cancelled`.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/event.h"
#include "core/loop.h"
#include "scheduler/event_contents.h"
#include "scheduler/scheduler.h"

namespace switchyard::scheduler {

using Clock = std::chrono::steady_clock;

struct Scheduler::Invocation {
  Scheduler* scheduler = nullptr;
  FunctionState* function = nullptr;
  core::Event event;               // For a batch: encoded from `items` at each start.
  std::vector<core::Event> items;  // A batch's items still to be done; they hold the completions.
  BatchEncoder encode;             // Set for a batch.
  int attempt = 0;                 // Attempts started for this event.
  // Its request id's number (Scheduler::request_id() writes it out): the loop only counts, the
  // worker that runs the function writes the id, for the function, in its own memory.
  std::uint64_t request = 0;
  Clock::time_point deadline{};
  std::atomic<bool> cancelled{false};
  // Set by the worker once the function returned and it is done with the invocation (outcome,
  // seconds and event final); its result may still wait for the rest of its run.
  std::atomic<bool> finished{false};
  core::Outcome outcome;  // Written by the worker, read by the loop after the hand-off.
  double seconds = 0;     // Time spent in the function, measured by the worker.
  bool detached = false;  // Its event went on without it (detach()): its result only frees it.
  Place place = Place::kWorker;
  bool running = false;  // Linked into the function's running list.
  // Where `event`'s contents stand when its source left them pending, and who may touch them.
  EventContents contents;
  Run* run = nullptr;  // Pooled: the run it is a member of, until its result is in.
  // kLater: the version it was started on (a hot swap does not end it) and its name there, until
  // it finishes or is cancelled.
  functions::FunctionPtr later;
  std::uint64_t later_call = 0;
  bool starting = false;  // Inside Function::start(): a callback now is deferred.
  Clock::time_point began{};
  Invocation* prev = nullptr;  // Running list, ordered by deadline.
  Invocation* next = nullptr;
  std::unique_ptr<core::Timer> retry_timer;

  bool batch() const { return static_cast<bool>(encode); }
  // Events this invocation answers for.
  std::uint64_t events() const { return batch() ? items.size() : 1; }
};

// Admission's path: a free invocation when there is one, so that the loop allocates nothing per
// event once it has as many as it keeps busy.
inline Scheduler::Invocation* Scheduler::acquire(FunctionState* fn) {
  Invocation* inv;
  if (free_invocations_.empty()) {
    inv = new Invocation();
    inv->scheduler = this;
  } else {
    inv = free_invocations_.back();
    free_invocations_.pop_back();
  }
  inv->function = fn;
  inv->attempt = 0;
  inv->detached = false;
  return inv;
}

}  // namespace switchyard::scheduler
