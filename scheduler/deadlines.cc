#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "scheduler/function_state.h"
#include "scheduler/invocation.h"
#include "scheduler/run.h"

// Deadlines: one timer per function, at its earliest running deadline. An invocation past it is
// reported (its event goes on to a retry or its source, with a copy of its contents) while its
// slot stays taken until its thread returns.

namespace switchyard::scheduler {

void Scheduler::arm_deadline_timer(FunctionState* fn) {
  if (fn->running_head == nullptr) {
    return;
  }
  auto wait =
      std::chrono::ceil<std::chrono::milliseconds>(fn->running_head->deadline - Clock::now());
  fn->deadline_timer->start(std::max(wait, std::chrono::milliseconds(0)));
}

void Scheduler::expire_due(FunctionState* fn) {
  auto now = Clock::now();
  while (fn->running_head != nullptr && fn->running_head->deadline <= now) {
    Invocation* inv = fn->running_head;
    if (inv->place == Place::kLater) {
      expire_later(inv);
      continue;
    }
    if (inv->run != nullptr && inv->run->cursor.load(std::memory_order_acquire) != kRunClosed) {
      // The members of its run that no worker started go back to the queue (a sequence's to
      // their source) rather than time out, this one among them if it never started: then the
      // head is looked at again.
      close_run(inv->run);
      continue;
    }
    if (inv->finished.load(std::memory_order_acquire)) {
      // It returned in time; its result waits in its worker for a later member of its run.
      answer_early(inv);
      continue;
    }
    const EventContents::Pin pin = inv->contents.pin(inv->event);
    if (pin == EventContents::Pin::kFinished) {
      // It returned in time and its worker already let its contents go: its result is on its
      // way and completes it.
      fn->unlink(inv);
      continue;
    }
    fn->unlink(inv);
    inv->cancelled.store(true, std::memory_order_relaxed);
    --fn->running;
    ++fn->timeouts;
    fn->metrics.timeouts.inc_unshared();
    spdlog::warn(
        "function {} request {} timed out after {}ms (attempt {}); its slot stays taken "
        "until it returns",
        fn->name, request_id(inv), fn->manifest.timeout.count(), inv->attempt);
    // The worker may still read inv->event (or the view of its contents): the retry path gets
    // a copy.
    Invocation* carrier;
    if (pin == EventContents::Pin::kCopy) {
      carrier = detach(inv, Take::kIdentity);
      const core::PendingContent& pending = inv->event.pending;
      pending.ops()->copy(pending.item(), carrier->event);
      inv->contents.end_copy();
    } else {
      carrier = detach(inv, Take::kCopy);
    }
    carrier->outcome = core::Outcome::failure(core::OutcomeKind::kTimeout, "Timeout",
                                              fmt::format("function {} did not return within {}ms",
                                                          fn->name, fn->manifest.timeout.count()));
    settle(carrier, carrier->outcome);
  }
  arm_deadline_timer(fn);
  pump(fn);
  after_change(fn);
}

}  // namespace switchyard::scheduler
