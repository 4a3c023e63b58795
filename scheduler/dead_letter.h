#pragma once

// Where an event goes after its last failed attempt. The Kafka and Redis triggers provide
// sinks that write to a topic, stream or list; without one, the dead letter is logged and
// counted. The source is acknowledged only after the sink reports that the dead letter is
// written.
//
// Thread rules: loop thread only.

#include <functional>
#include <string>

#include "config/config.h"
#include "core/error.h"
#include "core/event.h"

namespace switchyard::scheduler {

struct DeadLetter {
  const std::string& function;
  const config::DeadLetterSpec& destination;
  const core::Event& event;      // The original event: data, id and source coordinates.
  const core::Outcome& outcome;  // The last error and the attempt count.
};

class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  // Writes the dead letter and calls `done` on the loop thread once it is durable (or failed).
  // `done` is called exactly once, possibly before send() returns.
  virtual void send(const DeadLetter& letter, std::function<void(core::Status)> done) = 0;
};

// Logs every dead letter at error level; the scheduler counts them.
class LoggingDeadLetterSink final : public DeadLetterSink {
 public:
  void send(const DeadLetter& letter, std::function<void(core::Status)> done) override;
};

}  // namespace switchyard::scheduler
