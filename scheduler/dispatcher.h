#pragma once

// The one interface a trigger talks to. A trigger never includes the scheduler's internals.
//
// Thread rules: every method is loop-thread only.

#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "core/event.h"

namespace switchyard::scheduler {

enum class Admission {
  kStarted,    // Running now.
  kQueued,     // Waiting for a free slot of its function.
  kThrottled,  // Concurrency and queue are full: push back on the source and try later.
  kRejected,   // No such function, or the daemon is draining: do not retry here.
};

std::string_view to_string(Admission admission);

// Builds the one event a function receives for a batch from its items (loop thread). Called for
// every attempt, with the items that are still to be done.
using BatchEncoder = std::function<core::Event(std::span<const core::Event> items)>;

// The error type of an item the function reported in `batchItemFailures`.
inline constexpr std::string_view kBatchItemFailure = "BatchItemFailure";

// The error type of an event of a sequence handed back to its source without having run
// (dispatch_run(), RunOrder::kSequence), because one before it failed or its run ended first.
// Its outcome kind is kRejected, so a source that does not look for it leaves it unacknowledged;
// a sequence's source offers it again, in order. Not a final outcome.
inline constexpr std::string_view kNotRun = "NotRun";

// Whether `outcome` hands an event back unrun (kNotRun).
inline bool not_run(const core::Outcome& outcome) {
  return outcome.kind == core::OutcomeKind::kRejected && outcome.error_type == kNotRun;
}

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  // Offers an event to `function`. On kStarted or kQueued the event has been moved from and its
  // completion will be called exactly once, on the loop thread, with the final outcome (after
  // retries and the dead-letter hand-off). On kThrottled or kRejected the event is left as it
  // was and its completion will not be called: the trigger still owns it.
  virtual Admission dispatch(std::string_view function, core::Event&& event) = 0;

  // Offers `items` to `function` as one invocation (one concurrency slot, one queue place). The
  // function receives `encode(items)`. Each item keeps its own completion and is answered
  // exactly once with its own outcome:
  // - the function returns a response whose body is a JSON object with `batchItemFailures`
  //   (`[{"itemIdentifier": "<item id>"}, ...]`, as in AWS Lambda): the items named fail with
  //   error type kBatchItemFailure, the others succeed at once; a name that matches no item
  //   fails the whole batch;
  // - any other response: every item succeeds;
  // - an error or timeout: every item fails.
  // Failed items are retried together (re-encoded) under the function's retry policy and then
  // dead-lettered one by one. On kStarted or kQueued `items` has been moved from; on kThrottled
  // or kRejected it is left as it was. Items must not be synchronous.
  virtual Admission dispatch_batch(std::string_view function, std::vector<core::Event>&& items,
                                   BatchEncoder encode) = 0;

  // How the events of dispatch_run() relate.
  enum class RunOrder {
    // They must run in their order, each only after the one before it succeeded (a Kafka
    // partition's records under `partition` ordering).
    kSequence,
    // They do not wait for each other (records of different keys, or under `none` ordering).
    kIndependent,
  };

  // Offers `events` to `function` at once. Returns how many it took from the front of
  // `events`: those were moved from, and each is answered exactly once. A pooled function with
  // a free slot takes several (at most run_room()) as one run on that slot, one worker calling
  // them one after another: one hand-off between the loop and a worker for the lot instead of
  // one per event. Otherwise (no free slot, an inline function) only the first is offered, as
  // dispatch() offers it: 1 when admitted, 0 when not (the events are then left as they were).
  // kIndependent: a member that fails goes its own way (retries, dead letter), the others
  // still run, and members the run ends without wait for a slot like any queued event.
  // kSequence: the run stops at a member that fails; the members after it, and those the run
  // ends without (its time budget, a timeout), are answered with kNotRun (not_run()), unbuilt
  // (pending contents kept, completion moved out): the source takes them back and offers them
  // again, in order, once the failed one is done.
  virtual std::size_t dispatch_run(std::string_view function, std::span<core::Event> events,
                                   RunOrder /*order*/) {
    if (events.empty()) {
      return 0;
    }
    const Admission admission = dispatch(function, std::move(events.front()));
    return admission == Admission::kStarted || admission == Admission::kQueued ? 1 : 0;
  }

  // How many events dispatch_run() would take now (at least 1), so that a source takes no more
  // than that from its buffer.
  virtual std::size_t run_room(std::string_view /*function*/) const { return 1; }

  // How many more events (or batches) `function` would admit now (free slots plus free queue
  // space); 0 for an unknown or draining function. Triggers that pull (Kafka, Redis) read no
  // more than this many events, or this many batches.
  virtual std::size_t capacity(std::string_view function) const = 0;

  // How long a throttled caller should wait before trying again (HTTP's Retry-After).
  virtual std::chrono::seconds retry_after(std::string_view function) const = 0;

  // Calls `on_capacity` on the loop thread whenever `function` frees capacity after having had
  // none, so that a paused source can resume. Returns an id for unwatch_capacity().
  virtual std::size_t watch_capacity(std::string_view function,
                                     std::function<void()> on_capacity) = 0;
  virtual void unwatch_capacity(std::size_t id) = 0;
};

}  // namespace switchyard::scheduler
