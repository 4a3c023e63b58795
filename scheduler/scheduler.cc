#include "scheduler/scheduler.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <utility>

#include "scheduler/function_state.h"
#include "scheduler/invocation.h"
#include "scheduler/run.h"

// The function table and admission: what a trigger offers, which function takes it, and
// whether it runs now, waits in the queue or is refused; the capacity a source may read, and
// its watchers. Runs (runs.cc), the call of a function (invoke.cc), deadlines (deadlines.cc),
// settlement (settlement.cc) and shutdown (shutdown.cc) live in their own files.

namespace switchyard::scheduler {

std::string_view to_string(Admission admission) {
  switch (admission) {
    case Admission::kStarted:
      return "started";
    case Admission::kQueued:
      return "queued";
    case Admission::kThrottled:
      return "throttled";
    case Admission::kRejected:
      return "rejected";
  }
  return "unknown";
}

namespace {

// Moves `from` into an invocation's `into`. An unbuilt event (PendingContent) brings only what
// may be relied on before its build (id, synchronous, source_tag) and its pending contents and
// completion: `into`'s content fields and attribute entries stay as the invocation's last event
// left them, for the build to write over keeping their storage (Event::materialize() empties
// the fields first; core::AttributeWriter overwrites the entries). Moving the rest would touch
// every string of the invocation's event on the loop thread, for an event that may never be
// built at all (a function that succeeds on a view). Its completion, if it is never built, is
// handed a clean event with its identity alone (EventContents::complete()).
void adopt(core::Event& into, core::Event&& from) {
  if (!from.pending || !from.attributes.empty()) {
    into = std::move(from);
    return;
  }
  if (!into.id.empty() || !from.id.empty()) {
    into.id = std::move(from.id);
  }
  into.synchronous = from.synchronous;
  into.wants_request_id = from.wants_request_id;
  into.source_tag = from.source_tag;
  into.pending = std::move(from.pending);
  into.completion = std::move(from.completion);
}

}  // namespace

Scheduler::Scheduler(core::Loop& loop, WorkerPool& pool, core::MetricsRegistry& metrics,
                     DeadLetterSink& dead_letters, std::string instance)
    : loop_(loop),
      pool_(pool),
      metrics_(metrics),
      dead_letters_(dead_letters),
      random_(std::random_device{}()),
      request_ids_(instance),
      flush_(loop, [this] { flush_jobs(); }),
      dead_letter_failures_(metrics.counter(
          "switchyard_dead_letter_failures_total",
          "Dead letters that could not be written; their events were not acknowledged.")),
      results_(loop, [this](std::vector<Result>& done) { on_results(done); }) {
  results_.unref();
}

Scheduler::~Scheduler() {
  // The pool must be stopped before the scheduler goes: a job still running would hand its
  // result to a dead queue.
  results_.drain_pending();
  auto release = [this](FunctionState& fn) {
    for (Invocation* inv : fn.queue) {
      recycle(inv);
    }
    for (Invocation* inv : fn.retrying) {
      recycle(inv);
    }
    while (fn.running_head != nullptr) {
      Invocation* inv = fn.running_head;
      fn.unlink(inv);
      if (inv->place == Place::kLater && inv->later != nullptr) {
        // Its callback must never reach a scheduler that is gone.
        inv->later->cancel(inv->later_call);
        inv->later.reset();
      }
      recycle(inv);
    }
  };
  for (auto& [name, fn] : functions_) {
    release(*fn);
  }
  for (auto& fn : retiring_) {
    release(*fn);
  }
  for (Invocation* inv : free_invocations_) {
    delete inv;
  }
}

Scheduler::FunctionState* Scheduler::find(std::string_view name) const {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : it->second.get();
}

void Scheduler::upsert(const config::FunctionManifest& manifest,
                       functions::FunctionPtr implementation) {
  FunctionState* fn = find(manifest.name);
  if (fn == nullptr) {
    auto state = std::make_unique<FunctionState>(metrics_, manifest.name);
    fn = state.get();
    fn->deadline_timer = std::make_unique<core::Timer>(loop_, [this, fn] { expire_due(fn); });
    fn->stall_timer = std::make_unique<core::Timer>(loop_, [this, fn] { reclaim_stalled(fn); });
    functions_.emplace(manifest.name, std::move(state));
  }
  fn->manifest = manifest;
  fn->manifest.concurrency = std::max(1, manifest.concurrency);
  fn->current = std::move(implementation);
  fn->place = fn->current->finishes_later()                      ? Place::kLater
              : manifest.execution == config::Execution::kInline ? Place::kLoop
                                                                 : Place::kWorker;
  fn->removed = false;
  update_pool_ceiling();
  pump(fn);
  after_change(fn);
}

void Scheduler::remove(std::string_view name) {
  auto it = functions_.find(name);
  if (it == functions_.end()) {
    return;
  }
  FunctionState* fn = it->second.get();
  fn->removed = true;
  // `current` stays: what the function already accepted still runs on it.
  // Never destroyed here: a caller up the stack (a completion) may still hold it.
  retiring_.push_back(std::move(it->second));
  functions_.erase(it);
  update_pool_ceiling();
  after_change(fn);
}

void Scheduler::update_pool_ceiling() {
  // Every admitted pooled invocation can have a thread, so one blocked function never keeps
  // another with free slots waiting.
  // Retiring functions, and functions whose limit was lowered, may still hold threads.
  long long total = 0;
  auto add = [&total](const FunctionState& fn) {
    // A function swapped from a pooled version to another kind may still hold threads.
    if (fn.place == Place::kWorker || !fn.runs.empty()) {
      total += std::max(fn.manifest.concurrency, fn.in_flight);
    }
  };
  for (const auto& [name, fn] : functions_) {
    add(*fn);
  }
  for (const auto& fn : retiring_) {
    add(*fn);
  }
  pool_.set_max_threads(static_cast<int>(std::min<long long>(total, 4096)));
}

bool Scheduler::has_function(std::string_view name) const {
  FunctionState* fn = find(name);
  return fn != nullptr && !fn->removed;
}

std::vector<std::string> Scheduler::function_names() const {
  std::vector<std::string> names;
  for (const auto& [name, fn] : functions_) {
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

FunctionStats Scheduler::stats(std::string_view name) const {
  FunctionStats stats;
  const FunctionState* fn = find(name);
  if (fn == nullptr) {
    for (const auto& retiring : retiring_) {
      if (retiring->name == name) {
        fn = retiring.get();
      }
    }
  }
  if (fn != nullptr) {
    stats.in_flight = fn->in_flight;
    stats.running = fn->running;
    stats.queued = fn->waiting();
    stats.retrying = fn->retrying.size();
    stats.throttled = fn->throttled;
    stats.retries = fn->retries;
    stats.timeouts = fn->timeouts;
    stats.dead_letters = fn->dead_letters;
    if (fn->current) {
      stats.implementation = fn->current->status_json();
    }
  }
  return stats;
}

template <typename Fill>
Admission Scheduler::admit(std::string_view function, Fill&& fill) {
  FunctionState* fn = find(function);
  if (fn == nullptr || fn->removed || draining_) {
    if (fn != nullptr) {
      fn->metrics.rejected.inc_unshared();
    }
    return Admission::kRejected;
  }
  if (fn->in_flight < fn->manifest.concurrency && fn->queue.empty()) {
    Invocation* inv = acquire(fn);
    fill(inv);
    ++outstanding_;
    fn->metrics.started.inc_unshared(inv->events());
    start(inv);
    return Admission::kStarted;
  }
  if (fn->waiting() < static_cast<std::size_t>(fn->manifest.queue)) {
    Invocation* inv = acquire(fn);
    fill(inv);
    ++outstanding_;
    fn->queue.push_back(inv);
    fn->metrics.queued.inc_unshared(inv->events());
    fn->note_waiting();
    return Admission::kQueued;
  }
  ++fn->throttled;
  fn->starved = true;
  fn->metrics.throttled.inc_unshared();
  return Admission::kThrottled;
}

Admission Scheduler::dispatch(std::string_view function, core::Event&& event) {
  return admit(function, [&event](Invocation* inv) { adopt(inv->event, std::move(event)); });
}

Admission Scheduler::dispatch_batch(std::string_view function, std::vector<core::Event>&& items,
                                    BatchEncoder encode) {
  assert(encode);
  return admit(function, [&items, &encode](Invocation* inv) {
    inv->items = std::move(items);
    inv->encode = std::move(encode);
  });
}

std::size_t Scheduler::run_room(const FunctionState* fn) const {
  if (fn == nullptr || fn->removed || draining_ || fn->place != Place::kWorker ||
      fn->in_flight >= fn->manifest.concurrency || !fn->queue.empty()) {
    return 1;
  }
  // The members behind the first wait for its slot: they need room in the queue.
  const auto queue_limit = static_cast<std::size_t>(fn->manifest.queue);
  const std::size_t free_queue = fn->waiting() < queue_limit ? queue_limit - fn->waiting() : 0;
  return std::min({fn->run_limit, kMaxRun, free_queue + 1});
}

std::size_t Scheduler::run_room(std::string_view function) const {
  return run_room(find(function));
}

std::size_t Scheduler::dispatch_run(std::string_view function, std::span<core::Event> events,
                                    RunOrder order) {
  FunctionState* fn = find(function);
  const std::size_t count = std::min(events.size(), run_room(fn));
  if (count <= 1) {
    return Dispatcher::dispatch_run(function, events, order);
  }
  std::array<Invocation*, kMaxRun> members;
  for (std::size_t i = 0; i < count; ++i) {
    members[i] = acquire(fn);
    adopt(members[i]->event, std::move(events[i]));
  }
  outstanding_ += count;
  // Each offer counts: a member handed back and offered again is counted again.
  fn->metrics.started.inc_unshared(count);
  start(members[0], count, members.data(), order == RunOrder::kSequence);
  fn->note_waiting();
  return count;
}

std::size_t Scheduler::capacity(std::string_view function) const {
  FunctionState* fn = find(function);
  if (fn == nullptr || fn->removed || draining_) {
    return 0;
  }
  std::size_t room = fn->capacity();
  if (room == 0) {
    fn->starved = true;
  }
  return room;
}

std::chrono::seconds Scheduler::retry_after(std::string_view function) const {
  // A slot frees when an invocation ends: at worst after the function's timeout.
  const FunctionState* fn = find(function);
  if (fn == nullptr) {
    return std::chrono::seconds(1);
  }
  auto timeout = std::chrono::duration_cast<std::chrono::seconds>(fn->manifest.timeout);
  return std::clamp(timeout, std::chrono::seconds(1), std::chrono::seconds(60));
}

std::size_t Scheduler::watch_capacity(std::string_view function,
                                      std::function<void()> on_capacity) {
  std::size_t id = next_watcher_id_++;
  watchers_.emplace(id, Watcher{std::string(function), std::move(on_capacity)});
  return id;
}

void Scheduler::unwatch_capacity(std::size_t id) {
  watchers_.erase(id);
}

void Scheduler::pump(FunctionState* fn) {
  while (fn->in_flight < fn->manifest.concurrency && !fn->queue.empty()) {
    // The queue is shared out over the free slots: runs only when events outnumber them.
    const auto free_slots = static_cast<std::size_t>(fn->manifest.concurrency - fn->in_flight);
    const std::size_t room = std::max<std::size_t>(1, fn->queue.size() / free_slots);
    Invocation* inv = fn->queue.front();
    fn->queue.pop_front();
    start(inv, room);
  }
  fn->note_waiting();
}

void Scheduler::after_change(FunctionState* fn) {
  fn->note_waiting();
  if (fn->starved && !fn->removed && !draining_ && fn->capacity() > 0) {
    fn->starved = false;
    // Collect first: a callback may watch or unwatch.
    std::vector<std::function<void()>> callbacks;
    for (const auto& [id, watcher] : watchers_) {
      if (watcher.function == fn->name) {
        callbacks.push_back(watcher.callback);
      }
    }
    for (auto& callback : callbacks) {
      callback();
    }
  }
  if (fn->removed && fn->idle()) {
    auto it = std::find_if(retiring_.begin(), retiring_.end(),
                           [fn](const auto& state) { return state.get() == fn; });
    if (it != retiring_.end()) {
      // The caller may still hold `fn`; it goes at a safe point.
      loop_.defer([state = std::shared_ptr<FunctionState>(std::move(*it))] {});
      retiring_.erase(it);
    }
  }
  if (draining_ && outstanding_ == 0 && on_idle_) {
    auto on_idle = std::move(on_idle_);
    on_idle_ = nullptr;
    loop_.defer(std::move(on_idle));
  }
}

}  // namespace switchyard::scheduler
