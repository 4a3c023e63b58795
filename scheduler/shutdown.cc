#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "scheduler/function_state.h"
#include "scheduler/invocation.h"
#include "scheduler/run.h"

// Shutdown: draining (no new events; idle once the accepted ones are done) and abandoning
// (everything not yet finished is answered as rejected at once).

namespace switchyard::scheduler {

void Scheduler::drain(std::function<void()> on_idle) {
  draining_ = true;
  on_idle_ = std::move(on_idle);
  if (outstanding_ == 0 && on_idle_) {
    auto callback = std::move(on_idle_);
    on_idle_ = nullptr;
    loop_.defer(std::move(callback));
  }
}

void Scheduler::abandon() {
  draining_ = true;
  auto give_up = [this](FunctionState& fn) {
    for (Run* run : fn.runs) {
      close_run(run);  // Members no worker started are answered with the queue.
    }
    while (!fn.queue.empty()) {
      Invocation* inv = fn.queue.front();
      fn.queue.pop_front();
      auto outcome = core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown",
                                            "the daemon stopped before this event ran");
      outcome.attempts = inv->attempt;
      complete(inv, outcome);
    }
    for (Invocation* inv : std::vector<Invocation*>(fn.retrying)) {
      if (inv->retry_timer) {
        fn.retrying.erase(std::find(fn.retrying.begin(), fn.retrying.end(), inv));
        auto outcome = core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown",
                                              "the daemon stopped before retrying this event");
        outcome.attempts = inv->attempt;
        complete(inv, outcome);
      }
    }
    // Running invocations are cancelled and their events answered now, as at a timeout: the
    // triggers that own the completions may be gone by the time the threads return.
    while (fn.running_head != nullptr) {
      Invocation* inv = fn.running_head;
      if (inv->place == Place::kLater) {
        stop_later(inv);
        auto outcome = core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown",
                                              "the daemon stopped before this invocation ended");
        outcome.attempts = inv->attempt;
        complete(inv, outcome);
        continue;
      }
      if (inv->finished.load(std::memory_order_acquire)) {
        answer_early(inv);  // It returned: its own outcome (a failure is rejected, settle()).
        continue;
      }
      fn.unlink(inv);
      inv->cancelled.store(true, std::memory_order_relaxed);
      --fn.running;
      // Its id is set by a build: wait for a worker building it. A function reading a view
      // is held off building its contents (after a failure) while the id is copied. A built
      // event is copied whole: its completion may read what its source put in (a Redis list
      // gives the element back by its data).
      const EventContents::Pin pin = inv->contents.pin(inv->event);
      Invocation* carrier =
          detach(inv, pin == EventContents::Pin::kPinned ? Take::kCopy : Take::kIdentity);
      if (pin == EventContents::Pin::kCopy) {
        inv->contents.end_copy();
      }
      auto outcome = core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown",
                                            "the daemon stopped before this invocation ended");
      outcome.attempts = inv->attempt;
      complete(carrier, outcome);
    }
    fn.note_waiting();
  };
  abandoned_ = true;
  for (auto& [name, fn] : functions_) {
    give_up(*fn);
  }
  for (auto& fn : retiring_) {
    give_up(*fn);
  }
}

}  // namespace switchyard::scheduler
