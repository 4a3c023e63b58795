#pragma once

// The one interface a trigger talks to. A trigger never includes the scheduler's internals.
//
// Thread rules: every method is loop-thread only.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string_view>

#include "core/event.h"

namespace switchyard::scheduler {

enum class Admission {
  kStarted,    // Running now.
  kQueued,     // Waiting for a free slot of its function.
  kThrottled,  // Concurrency and queue are full: push back on the source and try later.
  kRejected,   // No such function, or the daemon is draining: do not retry here.
};

std::string_view to_string(Admission admission);

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  // Offers an event to `function`. On kStarted or kQueued the event has been moved from and its
  // completion will be called exactly once, on the loop thread, with the final outcome (after
  // retries and the dead-letter hand-off). On kThrottled or kRejected the event is left as it
  // was and its completion will not be called: the trigger still owns it.
  virtual Admission dispatch(std::string_view function, core::Event&& event) = 0;

  // How many more events `function` would admit now (free slots plus free queue space); 0 for
  // an unknown or draining function. Triggers that pull (Kafka, Redis) read no more than this.
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
