#pragma once

// The one interface every event source implements (HTTP, Kafka, Redis, cron).
//
// A source turns what it receives into core::Events and offers them to the Dispatcher; it
// answers its source (an HTTP response, a Kafka offset, an XACK) from each event's completion.
// It never includes the scheduler's internals.
//
// Thread rules: every method is called on the loop thread, and a trigger touches its state only
// there. Ownership: the daemon owns triggers; a trigger must not outlive the TriggerContext it
// was built with.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/error.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "scheduler/dead_letter.h"
#include "scheduler/dispatcher.h"

namespace switchyard::triggers {

// What a trigger may use. Every reference outlives the trigger.
struct TriggerContext {
  core::Loop& loop;
  scheduler::Dispatcher& dispatcher;
  core::MetricsRegistry& metrics;
  const config::DaemonConfig& daemon;
  // Where a source installs its dead-letter writer (Kafka topics, Redis streams and lists).
  scheduler::DeadLetterRouter& dead_letters;
};

class Trigger {
 public:
  virtual ~Trigger() = default;

  // A short name for logs: "http 127.0.0.1:8080", "kafka images (thumbnail)".
  virtual std::string describe() const = 0;

  // Starts taking events: binds, connects, subscribes, arms timers. An error here stops the
  // daemon from starting (or a reload from applying).
  virtual core::Status start() = 0;

  // Stops taking new events. `done` is called once (on the loop thread) when every event this
  // trigger took has been answered or handed back to its source, so that the daemon can exit
  // without losing any.
  virtual void stop(std::function<void()> done) = 0;

  // A reload changed this trigger's kind of configuration: applies `snapshot` in place and
  // returns true when the trigger can (the HTTP server swaps its routes and keeps its listener
  // and connections), or returns false to be stopped and replaced by new triggers built from
  // `snapshot`. The snapshot outlives the trigger.
  virtual bool update(const config::Snapshot& snapshot) {
    (void)snapshot;
    return false;
  }
};

using TriggerPtr = std::unique_ptr<Trigger>;

// Builds the triggers of one kind ("http", "kafka", "redis", "cron") for every function of a
// snapshot. A source decides how many it needs: one HTTP server for all routes, one consumer per
// Kafka trigger. The factory of a kind is also called when some function's dead letters go to
// that kind (a kafka_topic, a redis_stream or redis_list) even if no trigger of that kind exists:
// it installs its dead-letter writer in context.dead_letters then.
using TriggerFactory = std::function<core::Result<std::vector<TriggerPtr>>(
    const config::Snapshot& snapshot, TriggerContext& context)>;

// The trigger kinds this build knows, registered explicitly (static initialisers vanish from
// static libraries).
class TriggerRegistry {
 public:
  // Refuses a kind registered twice.
  core::Status add(std::string kind, TriggerFactory factory);
  const TriggerFactory* find(std::string_view kind) const;
  std::vector<std::string> kinds() const;

 private:
  std::vector<std::pair<std::string, TriggerFactory>> factories_;
};

// Registers every trigger kind built into this binary.
void register_builtin_triggers(TriggerRegistry& registry);

// The kind of a trigger spec: "http", "kafka", "redis" or "cron".
std::string_view trigger_kind(const config::TriggerSpec& spec);

}  // namespace switchyard::triggers
