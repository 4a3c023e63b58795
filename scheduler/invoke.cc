#include <chrono>
#include <string>
#include <vector>

#include "scheduler/function_state.h"
#include "scheduler/invocation.h"
#include "scheduler/run.h"

// Calling the function: a worker's way through a run's members, and one invocation, pooled or
// inline, on its event or on a view of its pending contents. With EventContents' steps, this is
// all of the scheduler's code that runs on worker threads.

namespace switchyard::scheduler {

void Scheduler::run_on_worker(void* arg) {
  auto* run = static_cast<Run*>(arg);
  Scheduler* scheduler = run->scheduler;
  // Time in the function so far, from what each invocation measured anyway (no clock reads of
  // its own); the hand-offs between members are short next to the budget.
  const double budget = std::chrono::duration<double>(run->budget).count();
  double spent = 0;
  // Results go to the loop together (one lock, at most one wake-up) unless the members before
  // took kResultDelay: a run of quick functions hands them all over at its end.
  double handed = 0;
  thread_local std::vector<Result> done;
  // One clock reading per member: each starts when the one before it ended.
  Clock::time_point now = Clock::now();
  const auto offset = functions::wall_offset(now);
  for (;;) {
    std::uint32_t index = run->cursor.load(std::memory_order_acquire);
    if (index >= run->size || (index > 0 && spent >= budget)) {
      break;  // Done, or out of budget: the loop takes the rest back at the run's end.
    }
    if (!run->cursor.compare_exchange_strong(index, index + 1, std::memory_order_acq_rel)) {
      break;  // The loop closed the run.
    }
    if (spent - handed >= kResultDelay) {
      // Only once another member is claimed: the last results go with the run's end, so the
      // loop never sees every outcome of a run while its slot still looks taken.
      scheduler->results_.push_many(done);
      handed = spent;
    }
    Invocation* inv = run->members[index];
    if (index + 1 < run->size) {
      // The next member's memory is on its way while this one runs: written by the loop and a
      // source's threads, it is not in this core's cache. (Prefetching reads nothing: the
      // member may be taken back meanwhile.)
      __builtin_prefetch(&run->members[index + 1]->event.pending);
      const Run::Prefetch& next = run->prefetch[index + 1];
      for (std::uint16_t at = 0; at < next.bytes; at += 64) {
        __builtin_prefetch(static_cast<const char*>(next.at) + at);
      }
      if (next.also != nullptr) {
        __builtin_prefetch(next.also);
      }
    }
    if (inv->cancelled.load(std::memory_order_relaxed)) {
      // Its deadline passed while it waited for a thread, and its event went on without it: do
      // not run the function a second time for nothing.
      inv->outcome = core::Outcome::failure(core::OutcomeKind::kTimeout, "Timeout",
                                            "cancelled before it started");
      inv->seconds = 0;
    } else {
      now = run_invocation(inv, *run->version, now, offset);
      spent += inv->seconds;
    }
    const bool failed = !inv->outcome.ok();
    // The loop may answer it from here on (answer_early()): nothing below reads it.
    inv->finished.store(true, std::memory_order_release);
    done.push_back(Result{inv, nullptr});
    if (run->sequence && failed) {
      break;  // The members after it must wait for its retry: the loop gives them back.
    }
  }
  run->slow = spent >= budget;
  // The last touch of the run: the loop may reuse it as soon as it sees this.
  done.push_back(Result{nullptr, run});
  scheduler->results_.push_many(done);
}

Clock::time_point Scheduler::run_invocation(Invocation* inv, functions::Function& function,
                                            Clock::time_point begin,
                                            std::chrono::system_clock::duration wall_offset) {
  // Reused by this thread's invocations: what a view points into.
  thread_local core::ViewScratch scratch;
  core::EventView view;
  const bool viewed =
      inv->contents.came_pending() && inv->contents.start_view(inv->event, scratch, view);
  if (!viewed) {
    inv->contents.build(inv->event);
  }
  functions::InvocationContext ctx;
  thread_local std::string request_id;
  inv->scheduler->request_ids_.format(inv->request, request_id);
  ctx.request_id = request_id;
  ctx.function_name = function.name();
  ctx.trace_parent = viewed ? view.traceparent : std::string_view(inv->event.traceparent);
  ctx.deadline = inv->deadline;
  ctx.wall_offset = wall_offset;
  ctx.cancelled = &inv->cancelled;
  inv->outcome = viewed ? function.invoke(view, ctx) : function.invoke(inv->event, ctx);
  auto end = Clock::now();
  inv->seconds = std::chrono::duration<double>(end - begin).count();
  if (end > inv->deadline && inv->outcome.ok()) {
    // Only reachable inline, or when a pooled function returns right at its deadline before the
    // loop noticed: either way the caller was promised an answer by then.
    inv->outcome = core::Outcome::failure(core::OutcomeKind::kTimeout, "Timeout",
                                          "function returned after its deadline");
  }
  if (viewed) {
    inv->contents.end_view(inv->event, view.id, !inv->outcome.ok(), inv->cancelled);
  } else if (inv->contents.came_pending() && inv->outcome.ok()) {
    inv->contents.trim(inv->event);
  }
  return end;
}

}  // namespace switchyard::scheduler
