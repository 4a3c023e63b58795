#pragma once

// Where an event goes after its last failed attempt. Trigger kinds provide sinks that write to a
// destination (the Kafka trigger a topic, the Redis trigger a stream or list); without one, the
// dead letter is logged and counted. The source is acknowledged only after the sink reports that
// the dead letter is written.
//
// Thread rules: loop thread only.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/error.h"
#include "core/event.h"

namespace switchyard::scheduler {

struct DeadLetter {
  const std::string& function;
  const config::DeadLetterSpec& destination;
  const core::Event& event;      // The original event: data, id and source coordinates.
  const core::Outcome& outcome;  // The last error and the attempt count.
  // When set, what is written instead of the dead-letter envelope, as it is: an asynchronous
  // invocation's record for its on_success / on_failure destination (async/invocation_record.h).
  // The Kafka record's value, the list element, the stream entry's `data` field.
  const std::string* record = nullptr;
};

class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  // Writes the dead letter and calls `done` on the loop thread once it is durable (or failed).
  // `done` is called exactly once, possibly before send() returns.
  virtual void send(const DeadLetter& letter, std::function<void(core::Status)> done) = 0;
  // Called once at shutdown, after the scheduler is idle: close connections, flush. `done` is
  // called exactly once, on the loop thread (possibly before close() returns).
  virtual void close(std::function<void()> done) { done(); }
};

// Logs every dead letter at error level; the scheduler counts them.
class LoggingDeadLetterSink final : public DeadLetterSink {
 public:
  void send(const DeadLetter& letter, std::function<void(core::Status)> done) override;
};

// The sink the scheduler writes to: it hands each dead letter to the sink installed for its
// destination's kind ("kafka_topic", "redis_list": the trigger kinds install them), and logs the
// ones whose function has no destination. A destination whose kind has no sink fails (the event
// is not acknowledged and comes back).
class DeadLetterRouter final : public DeadLetterSink {
 public:
  // Installs (or replaces) the sink for destinations of `kind`; one sink may serve several.
  void install(std::string_view kind, std::shared_ptr<DeadLetterSink> sink);
  bool has(std::string_view kind) const;

  void send(const DeadLetter& letter, std::function<void(core::Status)> done) override;
  // Closes every installed sink once; `done` runs when all have closed.
  void close(std::function<void()> done) override;

 private:
  LoggingDeadLetterSink logging_;
  std::map<std::string, std::shared_ptr<DeadLetterSink>, std::less<>> sinks_;
};

}  // namespace switchyard::scheduler
