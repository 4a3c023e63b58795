#pragma once

// The reader of a function's shared asynchronous queue (async/shared_queue.h), whatever keeps
// it: a trigger of that kind (a Redis stream's, a Kafka topic's) whose events go to the
// AsyncQueue's intake instead of the scheduler. Each event is decoded into the invocation it
// carries and handed to SharedIntake::take(); the intake answers it once the invocation has
// settled or been put back. Stopping the reader hands back what the intake holds and has not
// started, so that the trigger's stop does not wait for it.
//
// An event that is not an invocation this daemon can run (written by something else or by a
// newer switchyard, or another function's) is logged, counted in
// switchyard_async_unreadable_total and, as the kind says, left with its source (a Redis entry
// stays pending) or passed over (a Kafka record stays in the log; the offset moves on).
//
// Thread rules: loop thread only.

#include <functional>
#include <string>

#include "async/queue_store.h"
#include "async/shared_queue.h"
#include "core/error.h"
#include "core/event.h"
#include "triggers/trigger.h"

namespace switchyard::triggers {

struct SharedReaderSettings {
  enum class Unreadable {
    kLeave,     // Answered kRejected: its source keeps it.
    kPassOver,  // Answered as done: its source moves past it.
  };
  std::string function;
  std::string queue;  // "redis stream async:thumbnail", for logs.
  // The invocation an event carries.
  std::function<core::Result<async::Record>(const core::Event& event)> decode;
  Unreadable unreadable = Unreadable::kLeave;
};

// The invocation an event of a shared queue carries: its fields are the event's attributes
// `<prefix><name>` (request_id, function, attempts, enqueued_at, next_attempt_at: what both
// kinds write), its data the event as async/event_codec.h wrote it. `what` names a field in
// errors ("field", "header").
core::Result<async::Record> invocation_from_attributes(const core::Event& event,
                                                       std::string_view prefix,
                                                       std::string_view what);

// The reader of `settings.function`'s queue: `make_source` builds the trigger that reads it,
// from the context it is given (whose dispatcher is the intake's).
TriggerPtr make_shared_reader(
    TriggerContext& context, async::SharedIntake& intake, SharedReaderSettings settings,
    const std::function<TriggerPtr(TriggerContext& context)>& make_source);

}  // namespace switchyard::triggers
