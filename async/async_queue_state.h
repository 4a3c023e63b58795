#pragma once

// The AsyncQueue's own state (async_queue.h), shared by the files that implement it:
// async_queue.cc (accepting into the local file, running, retrying, settling) and
// async_queue_shared.cc (a shared queue's writer and the intake its reader hands over to).
//
// Thread rules: loop thread only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "async/async_queue.h"
#include "core/loop.h"
#include "core/metrics.h"

namespace switchyard::async {

// Wall-clock milliseconds since the Unix epoch: what records carry (enqueued, next attempt).
inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct AsyncQueue::FunctionQueue {
  FunctionQueue(core::MetricsRegistry& metrics, const std::string& function);

  std::string name;
  bool configured = false;  // In the running snapshot.
  // Where its invocations are written when its queue is shared (settings.shared); null until
  // the reader's kind attached it.
  std::shared_ptr<SharedQueue> shared;
  // Set when the scheduler refused it (removed, draining): nothing is offered until configure().
  bool refused = false;
  config::AsyncSettings settings;
  config::RetryPolicy retry;
  config::DeadLetterSpec dead_letter;
  std::deque<Entry*> waiting;  // In order; the front goes first.
  std::size_t running = 0;
  std::size_t retrying = 0;
  std::size_t held = 0;   // Of `retrying`, shared ones read before they were due.
  std::size_t watch = 0;  // The scheduler's capacity watch; 0: none.
  std::uint64_t recovered = 0;

  core::Counter& accepted;
  core::Counter& refused_full;
  core::Counter& refused_failed;
  core::Counter& recovered_total;
  core::Counter& expired;
  core::Counter& retries;
  core::Counter& dead_letters;
  core::Counter& on_success_written;
  core::Counter& on_failure_written;
  core::Counter& on_success_failed;
  core::Counter& on_failure_failed;
  core::Gauge& queued;
  core::Gauge& queued_bytes;
  core::Gauge& oldest_age;
};

struct AsyncQueue::Entry {
  // kPuttingBack: a shared entry's failed attempt being written back to the shared queue.
  enum class State { kWaiting, kRunning, kRetrying, kPuttingBack, kSettling };

  // One record to write while settling.
  struct Delivery {
    enum class Kind { kDeadLetter, kOnSuccess, kOnFailure };
    Kind kind = Kind::kDeadLetter;
    config::DeadLetterSpec destination;
    std::string record;  // The invocation record; empty for the dead letter (its envelope).
  };

  Record record;
  FunctionQueue* queue = nullptr;
  State state = State::kWaiting;
  std::string key;  // In entries_.
  // A shared one: the entry it was read as from the shared queue, the reader's event, whose
  // completion answers the reader, and the writer of that queue. Empty for one of the file.
  std::string entry;
  core::Event source;
  std::shared_ptr<SharedQueue> writer;
  bool held = false;  // kRetrying: a shared one read before it was due (FunctionQueue::held).
  std::unique_ptr<core::Timer> timer;  // kRetrying: the next attempt; kSettling: the next write.
  // kSettling: the outcome settled, and the records not written yet.
  core::Outcome outcome;
  std::vector<Delivery> deliveries;
  std::size_t unanswered = 0;  // Writes of `deliveries` not answered yet.
};

}  // namespace switchyard::async
