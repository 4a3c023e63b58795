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
// once, unlike a worker's, which stays taken until its thread returns.

namespace switchyard::scheduler {

void Scheduler::start_later(Invocation* inv) {
  FunctionState* fn = inv->function;
  const Clock::time_point now = Clock::now();
  begin(inv, Place::kLater, now);
  // No worker will build its contents: they are built here, once.
  inv->contents.build(inv->event);
  inv->later = fn->current;
  inv->began = now;
  std::string request_id;
  request_ids_.format(inv->request, request_id);
  functions::InvocationContext ctx;
  ctx.request_id = request_id;
  ctx.function_name = inv->later->name();
  ctx.trace_parent = inv->event.traceparent;
  ctx.deadline = inv->deadline;
  ctx.wall_offset = functions::wall_offset(now);
  ctx.cancelled = &inv->cancelled;
  // The function never calls back after stop_later() cancelled the invocation: `inv` is alive
  // whenever the callback runs.
  inv->later_call = inv->later->start(inv->event, ctx, [this, inv](core::Outcome outcome) {
    finish_later(inv, std::move(outcome));
  });
}

void Scheduler::finish_later(Invocation* inv, core::Outcome outcome) {
  inv->outcome = std::move(outcome);
  inv->seconds = std::chrono::duration<double>(Clock::now() - inv->began).count();
  inv->later.reset();
  on_finished(inv);
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
  inv->outcome = core::Outcome::failure(core::OutcomeKind::kTimeout, "Timeout",
                                        fmt::format("function {} did not return within {}ms",
                                                    fn->name, fn->manifest.timeout.count()));
  settle(inv, inv->outcome);
}

}  // namespace switchyard::scheduler
