#pragma once

// A function's asynchronous queue kept on a server that daemons on several hosts share
// (`async.queue.redis_stream` or `.kafka_topic`), instead of state_dir's file: what one daemon
// accepted, another runs when the first is gone. What keeps it: triggers/redis/async_stream.h
// (a Redis stream), triggers/kafka/async_topic.h (a Kafka topic); the reader both build on is
// triggers/shared_async.h.
//
// Two sides, both driven by the AsyncQueue (async/async_queue.h), which keeps the rules
// (attempts, event age, retries, destinations) the same as for the local file:
//
// - SharedQueue writes to it: an invocation is added before its caller is answered 202 (refused
//   when the queue holds async.queue already), and a failed attempt is put back with its
//   attempts and the time of its next attempt, in place of the entry it was read as, so that
//   any daemon may run the retry and a crash does not forget the attempts made.
// - SharedIntake is where a reader (every daemon whose function names the queue has one) hands
//   what it reads. An invocation read is answered through its reader's event: a success once it
//   has settled (the reader then removes it from the queue) or has been put back; kRejected to
//   leave it with the reader (the daemon is stopping: it is read again at this daemon's next
//   start, or taken over by another one).
//
// Thread rules: loop thread only.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "async/queue_store.h"
#include "core/error.h"
#include "core/event.h"
#include "scheduler/dispatcher.h"

namespace switchyard::async {

class SharedQueue {
 public:
  enum class Added {
    kAdded,   // Written: answer 202.
    kFull,    // The queue holds async.queue already: answer 429.
    kFailed,  // Not written (the server is unreachable, an error reply): answer 503.
  };
  // `message` says why when it was not added.
  using AddDone = std::function<void(Added added, const std::string& message)>;
  using Done = std::function<void(core::Status status)>;

  virtual ~SharedQueue() = default;

  // Adds `record` unless the queue holds `limits.max_events` invocations, or their bytes and
  // this one's would pass `limits.max_bytes`. `done` is called once, on the loop thread.
  virtual void add(const Record& record, const Limits& limits, AddDone done) = 0;

  // Puts `record` (its attempts and next_attempt_at_ms updated) back in place of `entry`, the
  // entry it was read as. An error when it could not be written; kNotFound when `entry` is no
  // longer this daemon's (another took it over: it runs there).
  virtual void requeue(std::string_view entry, const Record& record, Done done) = 0;

  // What the queue holds, from every daemon, as last read (every second).
  virtual FunctionUsage usage() const = 0;

  // Nothing sent and not answered: a writer replaced at a reload may go.
  virtual bool idle() const = 0;

  // "redis stream async:thumbnail" for logs.
  virtual std::string describe() const = 0;
};

class SharedIntake {
 public:
  virtual ~SharedIntake() = default;

  // `queue` is where `function`'s invocations are written from now on (at start-up and at each
  // reload that rebuilt it).
  virtual void attach(const std::string& function, std::shared_ptr<SharedQueue> queue) = 0;

  // An invocation of `function` read from its shared queue as `entry`. `source`'s completion
  // answers the reader. kQueued when taken (it runs when the function has room, or when its
  // next attempt is due); kRejected when not (the function is not configured, or is stopping):
  // `source` is then left as it was.
  virtual scheduler::Admission take(std::string_view function, Record&& record, std::string entry,
                                    core::Event&& source) = 0;

  // How many invocations `function`'s reader should read now: what the function can take
  // beyond those waiting here. 0 while stopping.
  virtual std::size_t capacity(std::string_view function) const = 0;

  // The reader of `function` is stopping (a reload replaced it, or the daemon stops): what it
  // handed over and has not started is given back (kRejected), so that it stays in the queue.
  virtual void release(std::string_view function) = 0;
};

}  // namespace switchyard::async
