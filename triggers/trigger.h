#pragma once

// The one interface every event source implements (HTTP, Kafka, Redis, cron), and the registry
// of trigger kinds.
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

#include "async/async_invoker.h"
#include "async/shared_queue.h"
#include "config/config.h"
#include "config/kinds.h"
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
  // Where asynchronous invocations go (written durably before they are answered 202); nullptr
  // when there is none (they are then refused with 503).
  async::AsyncInvoker* async_invocations = nullptr;
  // Where the readers of shared asynchronous queues (`async.queue.redis_stream`) hand what they
  // read, and their writers are attached; nullptr when there is none (none are built).
  async::SharedIntake* shared_async = nullptr;
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

// Builds the triggers of one kind for every function of a snapshot. A source decides how many it
// needs: one HTTP server for all routes, one consumer per Kafka trigger. The factory of a kind is
// also called when some function's dead letters go to a destination of that kind (a kafka_topic,
// a redis_stream) even if no trigger of that kind exists: it installs its dead-letter writer in
// context.dead_letters then.
using TriggerFactory = std::function<core::Result<std::vector<TriggerPtr>>(
    const config::Snapshot& snapshot, TriggerContext& context)>;

// Everything a trigger kind brings, registered in one place of its own folder
// (register_kafka_trigger in triggers/kafka/kafka_trigger.cc).
struct TriggerKind {
  config::TriggerKind manifest;  // Its key under `triggers:`, its parser and daemon check.
  TriggerFactory factory;
  // The dead-letter destinations whose writer its factory installs (manifest side).
  std::vector<config::DeadLetterKind> dead_letters;
  // Whether the daemon settings its triggers read are the same in both configs; a reload that
  // changes them rebuilds the kind's triggers. Optional: none read.
  std::function<bool(const config::DaemonConfig& a, const config::DaemonConfig& b)>
      same_daemon_settings;
  // Checks a whole snapshot beyond one trigger (HTTP: routes that conflict; Kafka: librdkafka
  // properties) for `switchyard validate` and reloads. Each problem is one line. Optional.
  std::function<std::vector<std::string>(const config::Snapshot& snapshot)> check;
};

// The trigger kinds this build knows, registered explicitly (static initialisers vanish from
// static libraries). It registers each kind's manifest side in the config::Kinds it was made
// with, so the loader can parse what the triggers will read.
class TriggerRegistry {
 public:
  explicit TriggerRegistry(config::Kinds& manifest_kinds) : manifest_kinds_(manifest_kinds) {}

  // Refuses a kind (or one of its dead-letter destinations) registered twice.
  core::Status add(TriggerKind kind);
  const TriggerKind* find(std::string_view key) const;
  // The trigger kind that writes a dead-letter destination ("kafka" for "kafka_topic"), or
  // nullptr.
  const TriggerKind* writer_of(const config::DeadLetterSpec& destination) const;
  const std::vector<TriggerKind>& kinds() const { return kinds_; }
  // Every problem the kinds' snapshot checks find (TriggerKind::check).
  std::vector<std::string> check(const config::Snapshot& snapshot) const;

 private:
  config::Kinds& manifest_kinds_;
  std::vector<TriggerKind> kinds_;
};

}  // namespace switchyard::triggers
