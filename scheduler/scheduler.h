#pragma once

// The scheduler: admission, per-function queues and concurrency gates, deadlines, retries with
// backoff, and the dead-letter hand-off.
//
// Per function it enforces `concurrency` (invocations in flight, counting timed-out ones whose
// thread has not returned yet), `queue` (events waiting for a slot), `timeout` (reported at the
// deadline; the invocation's context is cancelled but its slot stays taken until its thread
// really returns, except for a function that finishes later, which is stopped and its slot freed
// at once), and `retry` (attempts, backoff, cap, jitter; retries wait on loop timers).
// After the last attempt an asynchronous event goes to the dead-letter sink, and only then is
// its completion called.
//
// A pooled slot runs a *run*: an invocation and, when events queue up behind a busy function,
// up to kMaxRun - 1 more taken from the front of the queue, one after another on the same
// worker thread. Concurrency is unchanged (one slot, one invocation at a time) but a fast
// function gets several events per hand-off between the loop and a worker instead of one. A
// worker starts a run's next member only while the run has lasted less than its budget (1ms,
// or timeout/8 if shorter), so a member's deadline, set when the run was made, is at most that
// early; the members no worker started go back to the front of the queue, at the run's end or
// when the loop finds the run stalled (a member slow or stuck).
//
// A *sequence* (dispatch_run(), RunOrder::kSequence) is a run made of events that must run in their
// order, each after the one before succeeded: a worker stops at the first failure, and the members
// it did not start go back to their source (kNotRun, dispatcher.h) rather than to the queue, where
// they could overtake the failed one. A stalled sequence is left alone: its waiting members could
// run nowhere else.
//
// One job per file: scheduler.cc keeps the function table and admission; runs.cc the runs, on
// the loop's side; invoke.cc the call of a function (all that runs on workers); deadlines.cc the
// timeouts; settlement.cc what becomes of an outcome (retries, dead letters, completions);
// later.cc the invocations of functions that finish later (no worker holds them); shutdown.cc
// drain() and abandon(). Their shared state is in invocation.h, run.h and
// function_state.h; an event's pending contents in event_contents.h.
//
// Thread rules: every public method is loop-thread only. Invocations run on the WorkerPool (or
// inline, on the loop thread, for `execution: inline`), and their results come back through a
// LoopQueue; a function that finishes later is started and answered on the loop thread.
// Completions may be called before dispatch() returns (inline functions).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/event.h"
#include "core/ids.h"
#include "core/loop.h"
#include "core/loop_queue.h"
#include "core/metrics.h"
#include "functions/loader.h"
#include "scheduler/dead_letter.h"
#include "scheduler/dispatcher.h"
#include "scheduler/worker_pool.h"

namespace switchyard::scheduler {

struct FunctionStats {
  int in_flight = 0;         // Slots taken, including timed-out invocations still running.
  int running = 0;           // Invocations whose outcome is still awaited.
  std::size_t queued = 0;    // Events waiting for a slot.
  std::size_t retrying = 0;  // Events waiting on a backoff timer.
  std::uint64_t throttled = 0;
  std::uint64_t retries = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t dead_letters = 0;
  std::string implementation;  // Function::status_json() of the current version.
};

class Scheduler final : public Dispatcher {
 public:
  Scheduler(core::Loop& loop, WorkerPool& pool, core::MetricsRegistry& metrics,
            DeadLetterSink& dead_letters, std::string instance = "local");
  ~Scheduler() override;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Adds a function, or updates one in place: new limits apply at once, and a new
  // implementation takes new invocations while running ones finish on the one they started on.
  void upsert(const config::FunctionManifest& manifest, functions::FunctionPtr implementation);

  // Stops admitting events to `name`. What it already accepted still runs; the function is
  // forgotten once idle.
  void remove(std::string_view name);

  // Stops admitting events everywhere; `on_idle` runs once nothing is queued, running or
  // waiting to retry.
  void drain(std::function<void()> on_idle);

  // Gives up on everything not yet finished: queued events, pending retries and running
  // invocations are completed as kRejected at once (so their sources do not acknowledge them);
  // running invocations are cancelled and their results discarded when their threads return.
  // Dead letters already being written are left to finish. For the end of shutdown_timeout.
  void abandon();

  bool has_function(std::string_view name) const;
  FunctionStats stats(std::string_view name) const;
  std::vector<std::string> function_names() const;
  // Events accepted and not yet completed, over all functions.
  std::size_t outstanding() const { return outstanding_; }
  // Pooled jobs whose thread has not returned yet (timed-out invocations included).
  std::size_t busy_threads() const { return pooled_running_; }

  // Dispatcher.
  Admission dispatch(std::string_view function, core::Event&& event) override;
  Admission dispatch_batch(std::string_view function, std::vector<core::Event>&& items,
                           BatchEncoder encode) override;
  std::size_t dispatch_run(std::string_view function, std::span<core::Event> events,
                           RunOrder order) override;
  std::size_t run_room(std::string_view function) const override;
  std::size_t capacity(std::string_view function) const override;
  std::chrono::seconds retry_after(std::string_view function) const override;
  std::size_t watch_capacity(std::string_view function, std::function<void()> on_capacity) override;
  void unwatch_capacity(std::size_t id) override;

 private:
  struct FunctionState;
  struct Invocation;
  // Where an invocation's function runs: on a worker, as a member of a run; on the loop thread
  // (`execution: inline`); or later, through the function's own callback
  // (Function::finishes_later(): no thread waits for it).
  enum class Place : std::uint8_t { kWorker, kLoop, kLater };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  struct Run;
  // What a worker hands back: an invocation's result, or the end of a run (its slot is free).
  struct Result {
    Invocation* invocation = nullptr;
    Run* run_end = nullptr;
  };

  // scheduler.cc: the function table and admission.

  FunctionState* find(std::string_view name) const;
  // How many events offered to `fn` now may go as one run (1: offered as one event).
  std::size_t run_room(const FunctionState* fn) const;
  // Admission for dispatch() and dispatch_batch(): `fill` moves the event(s) into the
  // invocation once it is admitted.
  template <typename Fill>
  Admission admit(std::string_view function, Fill&& fill);
  void pump(FunctionState* fn);
  void after_change(FunctionState* fn);
  void update_pool_ceiling();

  // invocation.h, settlement.cc: an invocation from admission to completion.

  Invocation* acquire(FunctionState* fn);
  void recycle(Invocation* inv);
  // What the invocation that carries another's event(s) on takes of the event.
  enum class Take : std::uint8_t {
    kIdentity,  // Only what a completion of an unbuilt event reads (id, synchronous, source_tag).
    kCopy,      // A copy: the worker may still read the original (the loop pinned it).
    kMove,      // The event itself: its worker is done with it.
  };
  // Marks `inv` detached (its result, when it comes, only frees it) and returns the invocation
  // that carries its event(s) on: at a timeout, an early answer or an abandon.
  Invocation* detach(Invocation* inv, Take take);
  void settle(Invocation* inv, core::Outcome& outcome);
  void schedule_retry(Invocation* inv, const core::Outcome& outcome);
  void send_dead_letter(Invocation* inv, core::Outcome& outcome);
  // A batch whose function answered with `batchItemFailures`: completes the items that
  // succeeded and keeps the failed ones in `inv`, turning `outcome` into their failure. Returns
  // false when nothing failed.
  bool split_batch(Invocation* inv, core::Outcome& outcome);
  void complete(Invocation* inv, core::Outcome& outcome);
  // For logs: the invocation's request id; its event's id, or the request id without one.
  std::string request_id(const Invocation* inv) const;
  std::string event_name(const Invocation* inv) const;

  // runs.cc: runs on the loop's side, and the results that come back.

  // Starts an invocation: inline at once, or pooled as the first member of a run that takes
  // one slot and up to `room` - 1 more events from the front of the queue; or, with `members`
  // (pooled only), a run of members[0..room), a sequence if `ordered`.
  void start(Invocation* inv, std::size_t room = 1, Invocation* const* members = nullptr,
             bool ordered = false);
  // An attempt begins: its id, and for a run member its version, deadline and place in the
  // running list; unbegin() undoes it for a member that no worker took.
  // `now`: the loop's clock reading for the invocation's deadline (pooled; read once per run).
  void begin(Invocation* inv, Place place, std::chrono::steady_clock::time_point now = {});
  void unbegin(Invocation* inv);
  // Takes a pooled invocation out of its function's running list and its run (unbegin(), and
  // an answer the loop gives before the worker's result, answer_early()).
  void leave_run(Invocation* inv);
  // Takes back the members of `run` that no worker has started, to the front of the queue (or,
  // for a sequence, to their source: give_back()).
  void close_run(Run* run);
  // Answers a sequence member no worker started with kNotRun, its contents unbuilt, for its
  // source to offer again (kRejected once the daemon gave up).
  void give_back(Invocation* inv);
  void on_run_end(Run* run);
  // Answers the members of `run` that returned while a later member still runs: their results
  // would otherwise wait in the worker until the run ends (answer_early()).
  void answer_finished(Run* run);
  // Settles an invocation whose function returned (Invocation::finished) before its result came
  // back from its worker; the result, when it comes, only frees it.
  void answer_early(Invocation* inv);
  // Closes the runs that have gone on longer than a run should (a member is slow or stuck),
  // so that their waiting members can go to free slots; arms itself for the next check.
  void reclaim_stalled(FunctionState* fn);
  void on_results(std::vector<Result>& done);
  void flush_jobs();
  void on_finished(Invocation* inv);

  // invoke.cc: calling the function (on a worker, or inline).

  static void run_on_worker(void* arg);
  // Calls the function, from `begin` (the caller read the clock: a run's next member starts
  // when the one before it ended), and returns when it ended. An inline call's deadline starts
  // at `begin`; a pooled one's was set when its run was made. `wall_offset` turns the steady
  // clock into wall-clock time for the function's deadline (read once per run).
  static std::chrono::steady_clock::time_point run_invocation(
      Invocation* inv, functions::Function& function, std::chrono::steady_clock::time_point begin,
      std::chrono::system_clock::duration wall_offset);

  // deadlines.cc: timeouts.

  void expire_due(FunctionState* fn);
  static void arm_deadline_timer(FunctionState* fn);

  // later.cc: invocations that finish later (Place::kLater), through the function's callback.

  // Starts one on the loop thread: its contents are built here, and no worker is involved.
  void start_later(Invocation* inv);
  // Its function's callback for attempt `request`: settles it like an inline invocation that
  // returned. A callback for an attempt that has ended (a function that broke its contract) is
  // logged and dropped; one from inside start() is deferred.
  void finish_later(Invocation* inv, std::uint64_t request, core::Outcome outcome);
  // The function moved the deadline of attempt `request` of `inv` (it waits for, or waited for,
  // a cold environment). Static, so that its callback holds two words and the std::function
  // that carries it needs no allocation per invocation.
  static void move_later_deadline(Invocation* inv, std::uint64_t request,
                                  std::chrono::steady_clock::time_point deadline);
  // Ends one that has not finished: the function stops it (its callback never comes) and its
  // slot is free at once. The caller answers its event.
  void stop_later(Invocation* inv);
  // Its deadline passed: stopped, and its event goes on to a retry, a dead letter or its source.
  void expire_later(Invocation* inv);

  core::Loop& loop_;
  WorkerPool& pool_;
  core::MetricsRegistry& metrics_;
  DeadLetterSink& dead_letters_;
  std::mt19937_64 random_;
  core::IdGenerator request_ids_;
  std::string later_request_id_;  // start_later()'s, reused.

  std::unordered_map<std::string, std::unique_ptr<FunctionState>, StringHash, std::equal_to<>>
      functions_;
  std::vector<std::unique_ptr<FunctionState>> retiring_;
  std::vector<Invocation*> free_invocations_;
  std::vector<std::unique_ptr<Run>> runs_;  // Every run ever made; free_runs_ are reusable.
  std::vector<Run*> free_runs_;
  std::size_t outstanding_ = 0;
  // Jobs started during one loop iteration are handed to the pool together (right after the
  // I/O callbacks, or before the loop would block): one lock and at most one wake-up per idle
  // worker, however many requests one read brought.
  std::vector<Job> pending_jobs_;
  core::BeforeWait flush_;          // Runs flush_jobs().
  std::size_t pooled_running_ = 0;  // Runs (pooled jobs) whose end has not come back.
  bool draining_ = false;
  bool abandoned_ = false;
  std::function<void()> on_idle_;

  struct Watcher {
    std::string function;
    std::function<void()> callback;
  };
  std::map<std::size_t, Watcher> watchers_;
  std::size_t next_watcher_id_ = 1;

  core::Counter& dead_letter_failures_;
  core::LoopQueue<Result> results_;
};

}  // namespace switchyard::scheduler
