#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "scheduler/function_state.h"
#include "scheduler/invocation.h"

// Invocations of functions that finish later (Function::finishes_later(), Place::kLater): the
// function is started on the loop thread and calls back, on the loop thread, when it is done;
// no worker waits for it, so a thousand slow invocations need no thread. At the deadline the
// function stops the invocation (an execution environment is killed) and its slot is free at
// once, unlike a worker's, which stays taken until its thread returns. The function may move
// the deadline while the invocation waits for an environment to start (Lambda's timeout leaves
// out an on-demand init).

namespace switchyard::scheduler {

void Scheduler::start_later(Invocation* inv) {
  FunctionState* fn = inv->function;
  const Clock::time_point now = Clock::now();
  begin(inv, Place::kLater, now);
  // No worker will build its contents: they are built here, once.
  inv->contents.build(inv->event);
  inv->later = fn->current;
  inv->began = now;
  request_ids_.format(inv->request, later_request_id_);
  functions::InvocationContext ctx;
  ctx.request_id = later_request_id_;
  ctx.function_name = inv->later->name();
  ctx.trace_parent = inv->event.traceparent;
  ctx.deadline = inv->deadline;
  ctx.wall_offset = functions::wall_offset(now);
  ctx.cancelled = &inv->cancelled;
  // The attempt's number tells a callback for this attempt from a stray one: an invocation is
  // recycled once its attempt ends.
  const std::uint64_t request = inv->request;
  ctx.move_deadline = [inv, request](Clock::time_point deadline) {
    move_later_deadline(inv, request, deadline);
  };
  inv->starting = true;
  inv->later_call = inv->later->start(inv->event, ctx, [this, inv, request](core::Outcome outcome) {
    finish_later(inv, request, std::move(outcome));
  });
  inv->starting = false;
}

void Scheduler::finish_later(Invocation* inv, std::uint64_t request, core::Outcome outcome) {
  if (inv->function == nullptr || inv->place != Place::kLater || inv->request != request ||
      inv->later == nullptr) {
    spdlog::error("a function called back for an invocation that had already ended; ignored");
    return;
  }
  if (inv->starting) {
    // Called back from inside start(): settled once start() has returned.
    loop_.defer([this, inv, request, outcome = std::move(outcome)]() mutable {
      finish_later(inv, request, std::move(outcome));
    });
    return;
  }
  const Clock::time_point now = Clock::now();
  inv->outcome = std::move(outcome);
  inv->seconds = std::chrono::duration<double>(now - inv->began).count();
  if (now > inv->deadline && inv->outcome.ok()) {
    // Before the deadline timer noticed: the caller was promised an answer by then.
    inv->outcome = core::Outcome::failure(core::OutcomeKind::kTimeout, "Sandbox.Timedout",
                                          "function returned after its deadline");
  }
  inv->later.reset();
  on_finished(inv);
}

void Scheduler::move_later_deadline(Invocation* inv, std::uint64_t request,
                                    Clock::time_point deadline) {
  FunctionState* fn = inv->function;
  if (fn == nullptr || inv->place != Place::kLater || inv->request != request ||
      inv->later == nullptr || !inv->running || deadline == inv->deadline) {
    return;
  }
  // Its place in the running list (ordered by deadline) and so the timer may change.
  fn->unlink(inv);
  inv->deadline = deadline;
  fn->link(inv);
  arm_deadline_timer(fn);
}

void Scheduler::stop_later(Invocation* inv) {
  FunctionState* fn = inv->function;
  fn->unlink(inv);
  --fn->running;
  --fn->in_flight;
  fn->metrics.in_flight.add_unshared(-1);
  inv->cancelled.store(true, std::memory_order_relaxed);
  const functions::FunctionPtr version = std::move(inv->later);
  version->cancel(inv->later_call);
  inv->seconds = std::chrono::duration<double>(Clock::now() - inv->began).count();
  fn->metrics.duration.observe_unshared(inv->seconds);
}

void Scheduler::expire_later(Invocation* inv) {
  FunctionState* fn = inv->function;
  stop_later(inv);
  ++fn->timeouts;
  fn->metrics.timeouts.inc_unshared();
  spdlog::warn("function {} request {} timed out after {}ms (attempt {}); it was stopped", fn->name,
               request_id(inv), fn->manifest.timeout.count(), inv->attempt);
  // Lambda's words: runtimes and their users look for them.
  inv->outcome = core::Outcome::failure(
      core::OutcomeKind::kTimeout, "Sandbox.Timedout",
      fmt::format("Task timed out after {:.2f} seconds",
                  std::chrono::duration<double>(fn->manifest.timeout).count()));
  settle(inv, inv->outcome);
}

}  // namespace switchyard::scheduler
