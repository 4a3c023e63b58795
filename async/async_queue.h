#pragma once

// The durable queue of asynchronous invocations, on the loop: accepts them (written to the
// QueueStore before the caller is answered 202), runs them through the scheduler paced by each
// function's capacity, retries failures after the function's backoff, and gives up after
// `async.max_attempts` attempts or `async.max_event_age` (the dead-letter destination, or the
// log). A record leaves the file only when its invocation succeeded or was given up: after a
// crash, a stop or shutdown_timeout, recover() runs what was left, counting the attempts made.
//
// Each invocation moves through these states:
//
//   invoke() ──append──▶ kAppending ──committed──▶ kWaiting ◀──────────────┐
//                            │ (write failed: 503)    │ dispatched          │ timer
//                            ▼                        ▼                     │
//                         (gone)                  kRunning ──failed──▶ kRetrying
//                                                   │  │ not run (shutting down): kWaiting
//                                          succeeded│  └──last attempt or too old──┐
//                                                   ▼                              ▼
//                                               kSettling (records written to the destinations)
//                                                   │ all written (a failed one is written
//                                                   ▼ again after retry.max_backoff)
//                                          (removed from the file)
//
// Settling writes what Lambda writes: after a success, the invocation record to
// `async.on_success`; after giving up, the dead letter (logged when there is no `dead_letter`)
// and the invocation record to `async.on_failure` (async/invocation_record.h). A destination
// that is a function gets the record as an asynchronous invocation of its own, through this
// queue. A record is written at least once: a crash before all are written runs the invocation
// (or gives it up) again.
//
// A function's attempts run as the scheduler runs any event (concurrency, queue, timeout), one
// attempt per dispatch: the event is handed over as `synchronous` (its failure comes back here
// rather than into the scheduler's own retries and dead letters). What the scheduler's queue
// cannot take waits here, in order, until the function frees capacity.
//
// A function whose queue is shared (`async.queue.redis_stream` or `.kafka_topic`:
// async/shared_queue.h) has its invocations written there instead of the file, and runs those
// its reader hands to take(), under the same rules. A failed attempt is put back in the shared
// queue (kPuttingBack) rather than waiting here, so that any daemon may run the retry; one read
// before its time waits here (kRetrying). What settles is answered to the reader, which removes
// it from the queue.
//
// Thread rules: loop thread only, except what the store does on its writer thread (async/
// queue_store.h), whose results come back through a LoopQueue.

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "async/async_invoker.h"
#include "async/queue_store.h"
#include "async/shared_queue.h"
#include "config/config.h"
#include "core/error.h"
#include "core/loop.h"
#include "core/loop_queue.h"
#include "core/metrics.h"
#include "scheduler/dead_letter.h"
#include "scheduler/dispatcher.h"

namespace switchyard::async {

// Why an asynchronous invocation was given up (the `condition` of Lambda's invocation record).
inline constexpr std::string_view kRetriesExhausted = "RetriesExhausted";
inline constexpr std::string_view kEventAgeExceeded = "EventAgeExceeded";

// One function's asynchronous invocations, for /functions.
struct AsyncStats {
  std::uint64_t queued = 0;        // In the file: waiting, running or retrying.
  std::uint64_t queued_bytes = 0;  // Their size in the file.
  std::int64_t oldest_age_ms = 0;  // Age of the oldest; 0 when there is none.
  std::size_t waiting = 0;         // Waiting for the function's capacity.
  std::size_t running = 0;         // Handed to the scheduler.
  std::size_t retrying = 0;        // Waiting for their next attempt.
  std::uint64_t recovered = 0;     // Found in the file at start-up.
};

class AsyncQueue final : public AsyncInvoker, public SharedIntake {
 public:
  // Opens the queue file (created if missing; its folder must exist). Errors as
  // QueueStore::open(), with the path.
  static core::Result<std::unique_ptr<AsyncQueue>> open(core::Loop& loop,
                                                        scheduler::Dispatcher& dispatcher,
                                                        scheduler::DeadLetterSink& dead_letters,
                                                        core::MetricsRegistry& metrics,
                                                        const std::filesystem::path& file,
                                                        QueueStore::Options options = {});
  ~AsyncQueue() override;
  AsyncQueue(const AsyncQueue&) = delete;
  AsyncQueue& operator=(const AsyncQueue&) = delete;

  // The functions that run now (at start-up and at every reload): their async settings, retry
  // backoff, dead letter and queue bound. A function no longer among them keeps its records
  // (they run if it comes back).
  // `region` and `account_id` make the function ARNs of invocation records.
  void configure(const std::vector<config::FunctionManifest>& functions,
                 std::string_view region = "us-east-1",
                 std::string_view account_id = "000000000000");

  // Takes up what the file holds (what a crash or a stop left), attempts included, and offers it
  // to its functions as their capacity allows. Once, after configure(). Returns how many
  // invocations it found.
  core::Result<std::size_t> recover();

  // AsyncInvoker.
  void invoke(std::string_view function, const std::string& request_id, core::Event&& event,
              Answer answer) override;

  // SharedIntake.
  void attach(const std::string& function, std::shared_ptr<SharedQueue> queue) override;
  scheduler::Admission take(std::string_view function, Record&& record, std::string entry,
                            core::Event&& source) override;
  std::size_t capacity(std::string_view function) const override;
  void release(std::string_view function) override;

  // Stops taking and dispatching invocations (SIGTERM): the attempts running finish (the
  // scheduler drains them); everything else stays in the file (or the shared queue) for the
  // next start.
  void stop();
  // Writes what is pending and closes the file, and the shared queues' connections. After the
  // scheduler is idle; idempotent.
  void close();

  AsyncStats stats(std::string_view function) const;
  QueueStats store_stats() const { return store_->stats(); }
  const std::filesystem::path& file() const { return file_; }

 private:
  struct FunctionQueue;
  struct Entry;
  struct Committed {
    std::string id;
    AppendResult result;
  };
  struct Appending {
    Record record;
    Answer answer;
  };

  AsyncQueue(core::Loop& loop, scheduler::Dispatcher& dispatcher,
             scheduler::DeadLetterSink& dead_letters, core::MetricsRegistry& metrics,
             std::filesystem::path file, std::unique_ptr<QueueStore> store);

  FunctionQueue& queue_of(const std::string& function);
  // invoke() without the check for a stop: what settling writes.
  void append(std::string_view function, const std::string& request_id, core::Event&& event,
              Answer answer);
  // append() for a function whose queue is shared.
  void add_shared(FunctionQueue& queue, Record&& record, Answer answer);
  void on_committed(std::vector<Committed>& committed);
  // Offers the function's waiting invocations while it has capacity.
  void pump(FunctionQueue& queue);
  void dispatch(Entry* entry);
  void finished(Entry* entry, core::Outcome& outcome);
  void retry_later(Entry* entry, std::chrono::milliseconds delay);
  // A shared entry's failed attempt: put back in the shared queue for its next attempt.
  void put_back(Entry* entry, std::chrono::milliseconds delay);
  // Answers a shared entry's reader and forgets the entry: success (settled or put back), or
  // kRejected (handed back unsettled: it stays in the shared queue).
  void answer_reader(Entry* entry, bool done);
  void give_up(Entry* entry, core::Outcome outcome, std::string_view condition);
  // Writes the entry's records to their destinations (kSettling), then forgets it.
  void settle(Entry* entry, core::Outcome outcome, std::string_view condition);
  void deliver(Entry* entry);
  void delivered(Entry* entry);
  void forget(Entry* entry);
  std::int64_t age_ms(const Entry* entry) const;
  // What `function`'s queue holds: the file's rows, or the shared queue's entries.
  FunctionUsage usage(std::string_view function) const;
  void update_gauges();

  core::Loop& loop_;
  scheduler::Dispatcher& dispatcher_;
  scheduler::DeadLetterSink& dead_letters_;
  core::MetricsRegistry& metrics_;
  const std::filesystem::path file_;
  std::unique_ptr<QueueStore> store_;
  std::mt19937_64 random_;
  bool stopped_ = false;
  std::string region_ = "us-east-1";
  std::string account_id_ = "000000000000";

  std::map<std::string, std::unique_ptr<FunctionQueue>, std::less<>> queues_;
  // By Entry::key: the request id, or for a shared one its entry in the shared queue.
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  std::unordered_map<std::string, Appending> appending_;  // By request id.
  // Answers from the store's writer thread: collected by each append's `done`, handed to the
  // loop once per transaction (QueueStore::BatchDone).
  std::vector<Committed> committing_;  // The writer thread's only.
  core::LoopQueue<Committed> committed_;
  // Set to false when the queue goes: a dead letter answered later finds it gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<core::Timer> gauge_timer_;
  // Shared queues' writers a reload replaced, until they have answered what they sent.
  std::vector<std::shared_ptr<SharedQueue>> retired_writers_;
  QueueStats reported_;  // The store's counters as last exported.

  core::Counter& writes_;
  core::Counter& commits_;
  core::Counter& fsyncs_;
  core::Counter& failed_commits_;
};

}  // namespace switchyard::async
