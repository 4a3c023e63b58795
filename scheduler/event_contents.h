#pragma once

// Where an invocation's event contents stand when its source handed the event over with its
// contents pending (core::PendingContent), and who may touch them.
//
// The worker that runs the event either builds the contents (then, after a success, trims what
// is large and keeps the rest's storage for the next event built into the invocation), or runs
// the function on a view of them (then lets them go unbuilt after a success, or builds them
// after a failure, for its retry or dead letter). The loop touches them only at a timeout or an
// abandon: it builds them if no worker started, pins built ones to copy them, or copies them
// from the source's item while the function reads a view. Each step is a few microseconds and
// runs no function code, so whoever finds the other in the middle of one waits by yielding.
//
// Thread rules: reset() on the loop, before the hand-off to a worker and at recycling. Then the
// worker's steps (build, trim, start_view/end_view) and the loop's (build, pin, end_copy) may
// run at once; everything else is read by the loop after the worker is done with the event.

#include <atomic>
#include <cstdint>
#include <string_view>
#include <thread>

#include "core/event.h"

namespace switchyard::scheduler {

class EventContents {
 public:
  enum class State : std::uint8_t {
    kGiven,       // The event came built: there is nothing to guard.
    kPending,     // Not built yet.
    kBuilding,    // Being built, by the worker or by the loop.
    kBuilt,       // Built: the event holds its own contents.
    kTrimming,    // The worker trims the built contents after a success.
    kTrimmed,     // Built and trimmed: what was large is gone.
    kPinned,      // Built and held by the loop for a copy: the worker leaves them as they are.
    kViewing,     // The worker makes a view of the pending contents.
    kViewed,      // The function runs on the view.
    kCopying,     // The loop copies the pending contents while the function reads the view.
    kEndingView,  // The function returned: the worker builds the contents or lets them go.
    kReleased,    // Let go unbuilt after a view: the event holds only its identity.
  };

  // What the loop may do with a running invocation's event (pin()).
  enum class Pin {
    kPinned,    // Built (by the source, a worker or pin() itself): copy the event.
    kCopy,      // A function reads a view: copy from the item, then end_copy().
    kFinished,  // The worker let them go after a success that its result will report.
  };

  // kPending when `event` has pending contents, kGiven otherwise. Loop thread, while no worker
  // holds the event.
  void reset(const core::Event& event) {
    state_.store(event.pending ? State::kPending : State::kGiven, std::memory_order_relaxed);
  }

  State state() const { return state_.load(std::memory_order_acquire); }

  // Whether the event came with pending contents (set by reset(), unchanged until the next).
  bool came_pending() const { return state_.load(std::memory_order_relaxed) != State::kGiven; }

  // Whether `event`'s contents were never built into it (still pending, or let go after a view):
  // its fields other than id, synchronous and source_tag are then an earlier event's. For the
  // loop, once no worker holds the event.
  bool unbuilt(const core::Event& event) const {
    return static_cast<bool>(event.pending) || state() == State::kReleased;
  }

  // Calls `completion` with `event`, or, when its contents were never built into it (unbuilt()),
  // with a clean event that holds its identity alone (id, synchronous, source_tag) and, with
  // `keep_pending`, its pending contents for the source to take back: a completion never sees
  // an earlier event's contents. Without `keep_pending` the pending contents are let go first
  // (the source that holds what they point into may go away in its completion). Loop thread,
  // once no worker holds the event.
  void complete(core::Event& event, const core::Completion& completion, core::Outcome& outcome,
                bool keep_pending = false) const {
    if (!unbuilt(event)) {
      completion(event, outcome);
      return;
    }
    // The id's storage is lent, not copied, and goes back for the next event built into it.
    core::Event clean;
    clean.id.swap(event.id);
    clean.synchronous = event.synchronous;
    clean.source_tag = event.source_tag;
    if (keep_pending) {
      clean.pending = std::move(event.pending);
    } else {
      event.pending.reset();
    }
    completion(clean, outcome);
    event.id.swap(clean.id);
  }

  // Builds the pending contents into `event` once, on whichever thread gets there first; the
  // other waits for the build to end. Nothing for an event that came built or is built.
  void build(core::Event& event) {
    if (state_.load(std::memory_order_relaxed) == State::kGiven) {
      return;  // Most events: no atomic read-modify-write on the worker's path.
    }
    State expected = State::kPending;
    if (state_.compare_exchange_strong(expected, State::kBuilding, std::memory_order_acq_rel)) {
      event.materialize();
      state_.store(State::kBuilt, std::memory_order_release);
      return;
    }
    while (state_.load(std::memory_order_acquire) == State::kBuilding) {
      std::this_thread::yield();
    }
  }

  // Worker, after a success on built contents: lets go of what is large and keeps the storage
  // of the rest for the next event built into the invocation (no allocation then, and nothing
  // for the loop to free), unless the loop pinned them to copy them.
  void trim(core::Event& event);

  // Worker: fills `view` from the pending contents when their source offers views, instead of
  // building them. False when it does not, or when the loop built them first.
  bool start_view(core::Event& event, core::ViewScratch& scratch, core::EventView& view) {
    const core::PendingContent::Ops* ops = event.pending.ops();
    if (ops == nullptr || ops->view == nullptr) {
      return false;
    }
    State expected = State::kPending;
    if (!state_.compare_exchange_strong(expected, State::kViewing, std::memory_order_acq_rel)) {
      return false;  // The loop built them first (a timeout before the function started).
    }
    if (!ops->view(event.pending.item(), scratch, view)) {
      state_.store(State::kPending, std::memory_order_release);
      return false;
    }
    state_.store(State::kViewed, std::memory_order_release);
    return true;
  }

  // Worker, once the function that read the view returned: builds the contents after a failure
  // (for its retry or dead letter), unless the loop went on without the invocation (`cancelled`:
  // a timeout, whose retry has a copy, or an abandon); otherwise lets them go unbuilt, the event
  // keeping `id` (the view's) when it was not cancelled. Waits while the loop copies them.
  void end_view(core::Event& event, std::string_view id, bool failed,
                const std::atomic<bool>& cancelled) {
    State expected = State::kViewed;
    while (!state_.compare_exchange_weak(expected, State::kEndingView, std::memory_order_acq_rel)) {
      expected = State::kViewed;
      std::this_thread::yield();
    }
    if (failed && !cancelled.load(std::memory_order_acquire)) {
      event.materialize();
      state_.store(State::kBuilt, std::memory_order_release);
      return;
    }
    if (!cancelled.load(std::memory_order_acquire)) {
      // A few bytes into storage kept from the events before; only the loop reads it, after
      // kReleased.
      event.id.assign(id);
    }
    event.pending.reset();
    state_.store(State::kReleased, std::memory_order_release);
  }

  // Loop, before it copies a running invocation's event (a timeout, an abandon). Builds the
  // contents itself when no worker started on them.
  Pin pin(core::Event& event);

  // Loop, once it copied the contents that pin() answered kCopy for: the function's worker may
  // end its view.
  void end_copy() { state_.store(State::kViewed, std::memory_order_release); }

 private:
  std::atomic<State> state_{State::kGiven};
};

}  // namespace switchyard::scheduler
