#pragma once

// What a trigger that pulls its events (Redis lists and streams, Kafka) needs between
// reading them and the scheduler, once for all such triggers:
// - staging: events read and not admitted yet, in the order they were read;
// - the batch window: a partial batch waits up to `batch_window` for more;
// - dispatch, single (dispatch), batch (dispatch_batch) or run (dispatch_run), with the events
//   the function refuses put back in front, in order: throttled ones go again when the function
//   has capacity (Dispatcher::watch_capacity), rejected ones are handed back to the owner;
// - the lifetime guard of completions (CompletionGuard): a completion that arrives after the
//   PullSource is gone does nothing.
// Reading from the source, answering it (acknowledge, give back) and stopping stay with the
// owner, behind PullSource::Owner.
//
// State (State): kIdle -> kWindow (a partial batch waits for its window) -> kIdle (flushed);
// kIdle or kWindow -> kThrottled (the function refused) -> kIdle (capacity returned, or a flush
// that went through); any -> kStopped (stop()), for good.
//
// Thread rules: loop thread only, like the Dispatcher. Ownership: owned by its trigger; the
// loop, the dispatcher and the owner outlive it.

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/loop.h"
#include "scheduler/dispatcher.h"
#include "triggers/completion_guard.h"

namespace switchyard::triggers {

// Whether the dispatcher took the event (it now answers it through its completion), or left it
// with the caller.
bool admitted(scheduler::Admission admission);

class PullSource final : private CompletionGuard::Target {
 public:
  // How staged events are offered to the function.
  enum class Mode {
    kSingle,  // One dispatch() per event.
    kBatch,   // One dispatch_batch() of up to `batch` events, encoded by `encode`.
    // One dispatch_run() of up to min(`batch`, run_room()) events from a reused buffer: no
    // allocation per event.
    kRun,
  };

  enum class State {
    kIdle,       // Whatever is staged goes at the next flush.
    kWindow,     // A partial batch waits for the batch window; its timer flushes it.
    kThrottled,  // The function refused: the events wait, in front, for capacity.
    kStopped,    // stop() was called: nothing is offered any more.
  };

  struct Options {
    std::string function;
    Mode mode = Mode::kSingle;
    // Events per dispatch: a batch's size (kBatch), the most per run (kRun). At least 1.
    std::size_t batch = 1;
    // How long a partial batch waits for more (kBatch); zero: it goes at once.
    std::chrono::milliseconds batch_window{0};
    scheduler::BatchEncoder encode;  // kBatch only.
    scheduler::Dispatcher::RunOrder run_order = scheduler::Dispatcher::RunOrder::kIndependent;
  };

  // What the trigger that owns the PullSource does for it.
  class Owner {
   public:
    // An admitted event is done (once per admitted event, while the PullSource lives). The
    // event is as its source made it, with `context` as it was staged. in_flight() already
    // counts it out. A kRun event of a kSequence run handed back unrun (OutcomeKind::kNotRun)
    // comes here too: the owner may put_back() it.
    virtual void completed(core::Event& event, core::Outcome& outcome, void* context) = 0;
    // The function rejected them (unknown, or draining): every staged event, in order, is handed
    // back to the owner, who gives them back to its source. They are not offered again.
    virtual void rejected(std::vector<core::Event> events) = 0;
    // The function refused for lack of room: the staged events wait for capacity.
    virtual void throttled() {}
    // The function has capacity again (and what was staged went as far as it could): the owner
    // may read more.
    virtual void capacity_returned() {}

   protected:
    ~Owner() = default;
  };

  PullSource(core::Loop& loop, scheduler::Dispatcher& dispatcher, Options options, Owner& owner);
  // Stops watching capacity. Completions still to come do nothing.
  ~PullSource();
  PullSource(const PullSource&) = delete;
  PullSource& operator=(const PullSource&) = delete;

  // Watches the function's capacity (Owner::capacity_returned()).
  void start();
  // Offers nothing any more and hands back what is staged, in order. Events in the scheduler
  // still complete through Owner::completed().
  std::vector<core::Event> stop();

  // Takes an event read from the source, last in line. Its completion is set here (guarded;
  // `context` comes back with it in Owner::completed()). It goes at the next flush().
  void stage(core::Event event, void* context = nullptr);
  // Puts events back in front of the staged ones, in their order (events handed back unrun).
  // Their completions must be ones this PullSource set.
  void put_back(std::span<core::Event> events);

  // For an owner that keeps its own staging (Kafka: a buffer per partition), the two steps
  // flush() is made of. A guarded completion for an event of `context`: set it on each event
  // before offer(); it costs no allocation (CompletionGuard).
  core::Completion completion(void* context = nullptr) const { return guard_.completion(context); }
  // The same, calling the owner's completed() directly when the owner's final type is `O`: no
  // virtual call per event, for a source that completes many (Kafka). `O` must derive publicly
  // from Owner.
  template <typename O>
  core::Completion completion(void* context = nullptr) const {
    return guard_.completion<&PullSource::forward<O>>(context);
  }
  struct Offered {
    // kRun: kStarted when the run took them all, kThrottled otherwise (dispatch_run() does not
    // say why it took no more).
    scheduler::Admission admission;
    std::size_t taken;  // Moved from, from the front, and counted in in_flight().
  };
  // Offers `events` as one dispatch: the first (kSingle), all as one batch (kBatch), or a run
  // (kRun: as many as the function takes). Those not taken are left as they were, for the
  // caller to keep in order. Ignores the state: the caller decides when.
  Offered offer(std::span<core::Event> events);

  // Offers the staged events, whole batches (or runs) first; a partial batch waits for the
  // batch window unless `force`. Stops at the first refusal.
  void flush(bool force);

  // How many more events the function would take now beyond those staged: its capacity (in
  // events: times `batch` for kBatch) less the staged events, at most `limit`.
  std::size_t room(std::size_t limit) const;

  // Keeps `object` while completions may still point at it, even after the PullSource is gone
  // (CompletionGuard::keep()); forget() lets it go.
  void keep(std::shared_ptr<void> object) { guard_.keep(std::move(object)); }
  void forget(const void* object) { guard_.forget(object); }

  State state() const { return state_; }
  std::size_t staged() const { return staged_.size(); }
  // Admitted events whose completion has not been called yet.
  std::size_t in_flight() const { return guard_.outstanding(); }

 private:
  void completed(core::Event& event, core::Outcome& outcome, void* context) override;
  template <typename O>
  static void forward(CompletionGuard::Target& target, core::Event& event, core::Outcome& outcome,
                      void* context) {
    static_cast<O&>(static_cast<PullSource&>(target).owner_).O::completed(event, outcome, context);
  }
  void on_capacity();
  // Offers the first `count` staged events as one dispatch; what is refused is back in front.
  scheduler::Admission offer_staged(std::size_t count);
  void flush_staged(bool force);

  scheduler::Dispatcher& dispatcher_;
  Options options_;
  Owner& owner_;
  State state_ = State::kIdle;
  std::deque<core::Event> staged_;
  std::vector<core::Event> offering_;  // Reused for each batch or run.
  core::Timer window_timer_;
  std::optional<std::size_t> watch_id_;
  // A flush asked for while one runs (an inline function answers, and capacity returns, inside
  // a dispatch): the running one goes round again instead of offering out of order.
  bool flushing_ = false;
  bool flush_again_ = false;
  // Last: destroyed first, so that no completion reaches a half-destroyed PullSource.
  CompletionGuard guard_;
};

}  // namespace switchyard::triggers
