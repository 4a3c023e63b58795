#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "scheduler/function_state.h"
#include "scheduler/invocation.h"
#include "scheduler/run.h"

// Runs, on the loop's side: making one on a free slot (start(), begin()), taking back the
// members no worker started (close_run(), give_back()), answering the members a stalled run
// finished (reclaim_stalled(), answer_early()), and the results coming back (on_results(),
// on_finished(), on_run_end()).

namespace switchyard::scheduler {

void Scheduler::start(Invocation* inv, std::size_t room, Invocation* const* members, bool ordered) {
  FunctionState* fn = inv->function;
  ++fn->in_flight;
  fn->metrics.in_flight.inc_unshared();
  if (fn->place == Place::kLater) {
    start_later(inv);
    return;
  }
  if (fn->place == Place::kLoop) {
    begin(inv, Place::kLoop);
    // Runs here, on the loop thread, on the current version (no hot swap can happen during the
    // call); nothing can preempt it, so an overrun is reported as a timeout once it returns.
    const Clock::time_point now = Clock::now();
    inv->deadline = now + fn->manifest.timeout;
    run_invocation(inv, *fn->current, now, functions::wall_offset(now));
    on_finished(inv);
    return;
  }

  Run* run;
  if (free_runs_.empty()) {
    runs_.push_back(std::make_unique<Run>());
    run = runs_.back().get();
    run->scheduler = this;
  } else {
    run = free_runs_.back();
    free_runs_.pop_back();
  }
  run->function = fn;
  run->version = fn->current;
  run->size = 0;
  run->cursor.store(0, std::memory_order_relaxed);
  run->created = Clock::now();
  run->budget = std::min<Clock::duration>(kRunBudget, fn->manifest.timeout / 8);
  run->sequence = members != nullptr && ordered;
  if (members == nullptr) {
    room = std::min({room, fn->run_limit, kMaxRun});
  }
  for (Invocation* member = inv; member != nullptr;) {
    begin(member, Place::kWorker, run->created);
    member->run = run;
    const core::PendingContent& pending = member->event.pending;
    run->prefetch[run->size] =
        pending ? Run::Prefetch{pending.item(), pending.also_read(), pending.ops()->prefetch_bytes}
                : Run::Prefetch{};
    run->members[run->size++] = member;
    member = nullptr;
    if (members != nullptr) {
      member = run->size < room ? members[run->size] : nullptr;
    } else if (run->size < room && !fn->queue.empty()) {
      member = fn->queue.front();
      fn->queue.pop_front();
    }
  }
  fn->runs.push_back(run);
  if (run->size > 1 && !fn->stall_timer->active()) {
    fn->stall_timer->start(std::chrono::ceil<std::chrono::milliseconds>(2 * run->budget));
  }
  if (pooled_running_++ == 0) {
    // Results are pending: keep the loop alive for them.
    results_.ref();
  }
  flush_.request();
  pending_jobs_.push_back(Job{&Scheduler::run_on_worker, run});
}

void Scheduler::begin(Invocation* inv, Place place, Clock::time_point now) {
  FunctionState* fn = inv->function;
  ++fn->running;
  ++inv->attempt;
  inv->request = request_ids_.take();
  inv->cancelled.store(false, std::memory_order_relaxed);
  inv->finished.store(false, std::memory_order_relaxed);
  inv->place = place;
  if (inv->batch()) {
    for (core::Event& item : inv->items) {
      item.materialize();
    }
    inv->event = inv->encode(inv->items);
  }
  // Set while only the loop knows the invocation: the worker reads it after the hand-off.
  inv->contents.reset(inv->event);
  if (place == Place::kLoop) {
    return;
  }
  if (place == Place::kWorker) {
    ++fn->run_members;
  }
  inv->deadline = now + fn->manifest.timeout;
  fn->link(inv);
  if (fn->running_head == inv) {
    arm_deadline_timer(fn);
  }
}

void Scheduler::leave_run(Invocation* inv) {
  FunctionState* fn = inv->function;
  fn->unlink(inv);
  --fn->running;
  --fn->run_members;
  inv->run = nullptr;
}

void Scheduler::unbegin(Invocation* inv) {
  leave_run(inv);
  --inv->attempt;
}

void Scheduler::close_run(Run* run) {
  const std::uint32_t first = run->cursor.exchange(kRunClosed, std::memory_order_acq_rel);
  if (first >= run->size) {
    return;  // Every member was started (or the run was closed before).
  }
  FunctionState* fn = run->function;
  if (run->sequence) {
    // Not to the queue, where a free slot could run them before the member that stopped the
    // run is done: to their source, in their order.
    for (std::uint32_t i = first; i < run->size; ++i) {
      Invocation* inv = run->members[i];
      unbegin(inv);
      give_back(inv);
    }
    return;
  }
  // Back to the front of the queue, in their order.
  for (std::uint32_t i = run->size; i-- > first;) {
    Invocation* inv = run->members[i];
    unbegin(inv);
    fn->queue.push_front(inv);
  }
}

void Scheduler::give_back(Invocation* inv) {
  if (abandoned_) {
    auto outcome = core::Outcome::failure(core::OutcomeKind::kRejected, "ShuttingDown",
                                          "the daemon stopped before this event ran");
    outcome.attempts = inv->attempt;
    complete(inv, outcome);
    return;
  }
  --outstanding_;
  auto outcome =
      core::Outcome::failure(core::OutcomeKind::kRejected, std::string(kNotRun),
                             "an earlier event of its sequence failed, or its run ended before it");
  outcome.attempts = inv->attempt;
  // Unbuilt, it goes back with its pending contents, for its source to offer again.
  const core::Completion completion = std::move(inv->event.completion);
  if (completion) {
    inv->contents.complete(inv->event, completion, outcome, /*keep_pending=*/true);
  }
  recycle(inv);
}

void Scheduler::on_run_end(Run* run) {
  FunctionState* fn = run->function;
  const std::uint32_t started = std::min(run->cursor.load(std::memory_order_acquire), run->size);
  // A sequence stopped by a failure says nothing about the function's speed.
  const bool cut_short = (started < run->size && !run->sequence) || run->slow;
  close_run(run);
  // Longer runs while they fit their budget, back to single invocations when they do not (a
  // slow function gains nothing from runs and would only have its members taken back).
  fn->run_limit = cut_short ? 1 : std::min(fn->run_limit * 2, kMaxRun);
  std::erase(fn->runs, run);
  --fn->in_flight;
  fn->metrics.in_flight.add_unshared(-1);
  if (--pooled_running_ == 0) {
    results_.unref();
  }
  run->function = nullptr;
  run->version.reset();
  free_runs_.push_back(run);
  pump(fn);
  after_change(fn);
}

void Scheduler::reclaim_stalled(FunctionState* fn) {
  const auto now = Clock::now();
  std::optional<Clock::time_point> next;
  // A copy: an answer's completion may dispatch, and a new run joins fn->runs.
  const std::vector<Run*> runs = fn->runs;
  for (Run* run : runs) {
    const auto due = run->created + 2 * run->budget;
    if (due > now) {
      next = next ? std::min(*next, due) : due;
      continue;
    }
    // What its members finished is answered now, not when the slow one returns; the members
    // no worker started go to free slots (a sequence's stay: they could run nowhere else).
    answer_finished(run);
    if (!run->sequence) {
      close_run(run);
    }
  }
  if (next) {
    fn->stall_timer->start(std::max(std::chrono::ceil<std::chrono::milliseconds>(*next - now),
                                    std::chrono::milliseconds(1)));
  }
  pump(fn);
  after_change(fn);
}

void Scheduler::answer_finished(Run* run) {
  const std::uint32_t started = std::min(run->cursor.load(std::memory_order_acquire), run->size);
  for (std::uint32_t i = 0; i < started; ++i) {
    Invocation* inv = run->members[i];
    // Still this run's (its result has not come back) and not answered yet.
    if (inv->run == run && inv->running && inv->finished.load(std::memory_order_acquire)) {
      answer_early(inv);
    }
  }
}

void Scheduler::answer_early(Invocation* inv) {
  FunctionState* fn = inv->function;
  // No longer counted among its run's members (waiting()); its result, when it comes, only
  // frees it, as a timed-out invocation's does.
  leave_run(inv);
  // Its worker no longer touches the event: it moves on whole. A completion reads what its
  // source put in (a Redis list's LREM names the element by its data), a failure's retry or
  // dead letter its contents (built by then). Only a success on contents the worker let go
  // (kReleased, kTrimmed) goes unbuilt, as its result would have.
  Invocation* carrier = detach(
      inv, inv->contents.came_pending() && inv->outcome.ok() ? Take::kIdentity : Take::kMove);
  carrier->outcome = std::move(inv->outcome);
  if (carrier->outcome.kind == core::OutcomeKind::kTimeout) {
    ++fn->timeouts;
    fn->metrics.timeouts.inc_unshared();
  }
  settle(carrier, carrier->outcome);
}

void Scheduler::on_results(std::vector<Result>& done) {
  for (const Result& result : done) {
    if (result.run_end != nullptr) {
      on_run_end(result.run_end);
    } else {
      on_finished(result.invocation);
    }
  }
  flush_jobs();
}

void Scheduler::flush_jobs() {
  flush_.cancel();
  if (!pending_jobs_.empty()) {
    pool_.submit_many(pending_jobs_);
    pending_jobs_.clear();
  }
}

void Scheduler::on_finished(Invocation* inv) {
  FunctionState* fn = inv->function;
  fn->unlink(inv);
  if (inv->place != Place::kWorker) {
    --fn->in_flight;
    fn->metrics.in_flight.add_unshared(-1);
  } else if (inv->run != nullptr) {
    // A pooled invocation's slot belongs to its run, freed at the run's end. (Answered early,
    // it has left its run already.)
    --fn->run_members;
    inv->run = nullptr;
  }
  fn->metrics.duration.observe_unshared(inv->seconds);
  if (inv->detached) {
    // Its event went on without it (a timeout, an early answer, an abandon); the thread has
    // returned, so the slot is free now.
    recycle(inv);
  } else {
    --fn->running;
    if (spdlog::should_log(spdlog::level::debug)) {
      // One line per invocation, like Lambda's REPORT. An event never built (its function
      // succeeded on a view) has only its id, kept from the view: its other fields are an
      // earlier event's.
      const bool built = !inv->contents.unbuilt(inv->event);
      const auto init = inv->outcome.init_duration;
      spdlog::debug(
          "REPORT function={} request={} event={} source={} attempt={} "
          "duration={:.3f}ms{} outcome={}",
          fn->name, request_id(inv), inv->event.id,
          built ? std::string_view(inv->event.source) : std::string_view(), inv->attempt,
          inv->seconds * 1000,
          init.count() > 0 ? fmt::format(" init_duration={:.3f}ms", init.count() / 1000.0)
                           : std::string(),
          core::to_string(inv->outcome.kind));
    }
    if (inv->outcome.kind == core::OutcomeKind::kTimeout) {
      ++fn->timeouts;
      fn->metrics.timeouts.inc_unshared();
    }
    settle(inv, inv->outcome);
  }
  pump(fn);
  after_change(fn);
}

}  // namespace switchyard::scheduler
