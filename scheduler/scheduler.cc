#include "scheduler/scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "scheduler/backoff.h"
#include "scheduler/batch_item_failures.h"
#include "scheduler/event_contents.h"
#include "scheduler/function_metrics.h"

namespace switchyard::scheduler {

using Clock = std::chrono::steady_clock;

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
  into.source_tag = from.source_tag;
  into.pending = std::move(from.pending);
  into.completion = std::move(from.completion);
}

// A copy of `event` for the retry path of a timed-out invocation, whose worker may still read
// the original. The completion moves: it must be called exactly once. Without `contents`, only
// what a completion relies on (id, source_tag, synchronous).
core::Event copy_event(core::Event& event, bool contents) {
  core::Event copy;
  copy.id = event.id;
  copy.synchronous = event.synchronous;
  copy.source_tag = event.source_tag;
  copy.completion = std::move(event.completion);
  if (!contents) {
    return copy;
  }
  copy.source = event.source;
  copy.type = event.type;
  copy.subject = event.subject;
  copy.datacontenttype = event.datacontenttype;
  copy.dataschema = event.dataschema;
  copy.time = event.time;
  copy.data = event.data;
  copy.attributes = event.attributes;
  copy.traceparent = event.traceparent;
  return copy;
}

}  // namespace

struct Scheduler::Invocation {
  Scheduler* scheduler = nullptr;
  FunctionState* function = nullptr;
  core::Event event;               // For a batch: encoded from `items` at each start.
  std::vector<core::Event> items;  // A batch's items still to be done; they hold the completions.
  BatchEncoder encode;             // Set for a batch.
  int attempt = 0;                 // Attempts started for this event.
  // Its request id's number (Scheduler::request_id() writes it out): the loop only counts, the
  // worker that runs the function writes the id, for the function, in its own memory.
  std::uint64_t request = 0;
  Clock::time_point deadline{};
  std::atomic<bool> cancelled{false};
  // Set by the worker once the function returned and it is done with the invocation (outcome,
  // seconds and event final); its result may still wait for the rest of its run.
  std::atomic<bool> finished{false};
  core::Outcome outcome;    // Written by the worker, read by the loop after the hand-off.
  double seconds = 0;       // Time spent in the function, measured by the worker.
  bool detached = false;    // Its event went on without it (detach()): its result only frees it.
  bool inline_run = false;  // Runs on the loop thread.
  bool running = false;     // Linked into the function's running list.
  // Where `event`'s contents stand when its source left them pending, and who may touch them.
  EventContents contents;
  Run* run = nullptr;          // Pooled: the run it is a member of, until its result is in.
  Invocation* prev = nullptr;  // Running list, ordered by deadline.
  Invocation* next = nullptr;
  std::unique_ptr<core::Timer> retry_timer;

  bool batch() const { return static_cast<bool>(encode); }
  // Events this invocation answers for.
  std::uint64_t events() const { return batch() ? items.size() : 1; }
};

namespace {

constexpr std::size_t kMaxRun = 32;
constexpr std::uint32_t kRunClosed = UINT32_MAX;
constexpr Clock::duration kRunBudget = std::chrono::milliseconds(1);
// How much function time a worker's results may wait for the rest of their run (seconds).
constexpr double kResultDelay = 50e-6;

}  // namespace

struct Scheduler::Run {
  Scheduler* scheduler = nullptr;
  FunctionState* function = nullptr;
  // The version its members run on, pinned until the run ends (a hot swap waits for it): the
  // current one when the run was made.
  functions::FunctionPtr version;
  std::array<Invocation*, kMaxRun> members{};
  // Where each member's pending contents start and how much of them is read first
  // (PendingContent::Ops::prefetch_bytes, PendingContent::also_read()), noted by the loop: the
  // worker prefetches the next member's while it runs one. Only addresses: the member may no
  // longer be this run's.
  struct Prefetch {
    const void* at = nullptr;
    const void* also = nullptr;
    std::uint16_t bytes = 0;
  };
  std::array<Prefetch, kMaxRun> prefetch{};
  std::uint32_t size = 0;
  // The next member a worker may start: the worker claims it by moving the cursor on, the loop
  // takes the rest back by closing it (kRunClosed). Whoever moves it first owns the member.
  std::atomic<std::uint32_t> cursor{0};
  Clock::time_point created{};
  Clock::duration budget{};  // A worker starts no member after this much time in the run.
  bool slow = false;         // Written by the worker: the run outlasted its budget.
  bool sequence = false;     // RunOrder::kSequence: stops at a member that fails.
};

struct Scheduler::FunctionState {
  FunctionState(core::MetricsRegistry& registry, std::string function_name)
      : name(std::move(function_name)), metrics(registry, name) {}

  std::string name;
  config::FunctionManifest manifest;
  functions::FunctionPtr current;
  FunctionMetrics metrics;
  std::unique_ptr<core::Timer> deadline_timer;  // Fires at the earliest running deadline.
  std::unique_ptr<core::Timer> stall_timer;     // Looks for stalled runs (reclaim_stalled).
  std::deque<Invocation*> queue;
  Invocation* running_head = nullptr;
  Invocation* running_tail = nullptr;
  std::vector<Invocation*> retrying;
  std::vector<Run*> runs;       // Pooled runs whose end has not come back; each holds a slot.
  std::size_t run_members = 0;  // Members of those runs whose result has not come back.
  std::size_t run_limit = 1;    // Members per run: doubles while runs finish within budget.
  int in_flight = 0;
  int running = 0;
  bool removed = false;
  bool starved = false;  // Has refused an event or reported no capacity since it last had room.
  std::uint64_t throttled = 0;
  std::uint64_t retries = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t dead_letters = 0;

  std::size_t capacity() const {
    std::size_t free_slots = in_flight < manifest.concurrency
                                 ? static_cast<std::size_t>(manifest.concurrency - in_flight)
                                 : 0;
    std::size_t queue_limit = static_cast<std::size_t>(manifest.queue);
    std::size_t free_queue = waiting() < queue_limit ? queue_limit - waiting() : 0;
    return free_slots + free_queue;
  }
  // Events waiting for a slot: in the queue, or behind another member of a run.
  std::size_t waiting() const {
    return queue.size() + (run_members > runs.size() ? run_members - runs.size() : 0);
  }
  bool idle() const { return in_flight == 0 && queue.empty() && retrying.empty(); }
  // switchyard_queued follows waiting(), set after each change rather than counted: run members
  // leave the queue before they start.
  void note_waiting() { metrics.queue_depth.set(static_cast<double>(waiting())); }

  void link(Invocation* inv) {
    // Deadlines arrive in order while the timeout stays the same, so this walks one step.
    Invocation* after = running_tail;
    while (after != nullptr && after->deadline > inv->deadline) {
      after = after->prev;
    }
    inv->prev = after;
    inv->next = after != nullptr ? after->next : running_head;
    if (inv->next != nullptr) {
      inv->next->prev = inv;
    } else {
      running_tail = inv;
    }
    if (after != nullptr) {
      after->next = inv;
    } else {
      running_head = inv;
    }
    inv->running = true;
  }
  void unlink(Invocation* inv) {
    if (!inv->running) {
      return;
    }
    (inv->prev != nullptr ? inv->prev->next : running_head) = inv->next;
    (inv->next != nullptr ? inv->next->prev : running_tail) = inv->prev;
    inv->prev = inv->next = nullptr;
    inv->running = false;
  }
};

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
    if (fn.manifest.execution == config::Execution::kPool) {
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
  if (fn == nullptr || fn->removed || draining_ ||
      fn->manifest.execution != config::Execution::kPool ||
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

Scheduler::Invocation* Scheduler::acquire(FunctionState* fn) {
  Invocation* inv;
  if (free_invocations_.empty()) {
    inv = new Invocation();
    inv->scheduler = this;
  } else {
    inv = free_invocations_.back();
    free_invocations_.pop_back();
  }
  inv->function = fn;
  inv->attempt = 0;
  inv->detached = false;
  return inv;
}

Scheduler::Invocation* Scheduler::detach(Invocation* inv, Take take) {
  inv->detached = true;
  Invocation* carrier = acquire(inv->function);
  if (inv->batch()) {
    // The worker reads only the encoded event; the items (and their completions) move on.
    carrier->items = std::move(inv->items);
    carrier->encode = inv->encode;
  } else if (take == Take::kMove) {
    carrier->event = std::move(inv->event);
  } else {
    carrier->event = copy_event(inv->event, take == Take::kCopy);
  }
  carrier->attempt = inv->attempt;
  carrier->request = inv->request;
  return carrier;
}

std::string Scheduler::request_id(const Invocation* inv) const {
  std::string id;
  request_ids_.format(inv->request, id);
  return id;
}

std::string Scheduler::event_name(const Invocation* inv) const {
  return inv->event.id.empty() ? request_id(inv) : inv->event.id;
}

void Scheduler::recycle(Invocation* inv) {
  // The next event is moved in over this one; only what could be large is let go now, so that
  // idle invocations do not hold on to payloads. An event its worker built and trimmed
  // (EventContents::trim()), or never built into, keeps the rest for the next build: touching it
  // here would only pull it into this thread's cache.
  if (const auto state = inv->contents.state();
      state != EventContents::State::kTrimmed && state != EventContents::State::kReleased) {
    core::Bytes().swap(inv->event.data);
    inv->event.attributes.clear();
  }
  inv->event.pending.reset();
  // An event adopted later is not taken for one built before it starts.
  inv->contents.reset(inv->event);
  inv->event.completion = nullptr;
  inv->items.clear();
  inv->encode = nullptr;
  core::Bytes().swap(inv->outcome.response.body);
  inv->outcome.response.headers.clear();
  inv->retry_timer.reset();
  inv->function = nullptr;
  inv->run = nullptr;
  free_invocations_.push_back(inv);
}

void Scheduler::start(Invocation* inv, std::size_t room, Invocation* const* members, bool ordered) {
  FunctionState* fn = inv->function;
  ++fn->in_flight;
  fn->metrics.in_flight.inc_unshared();
  if (fn->manifest.execution == config::Execution::kInline) {
    begin(inv, /*inline_run=*/true);
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
    begin(member, /*inline_run=*/false, run->created);
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

void Scheduler::begin(Invocation* inv, bool inline_run, Clock::time_point now) {
  FunctionState* fn = inv->function;
  ++fn->running;
  ++inv->attempt;
  inv->request = request_ids_.take();
  inv->cancelled.store(false, std::memory_order_relaxed);
  inv->finished.store(false, std::memory_order_relaxed);
  inv->inline_run = inline_run;
  if (inv->batch()) {
    for (core::Event& item : inv->items) {
      item.materialize();
    }
    inv->event = inv->encode(inv->items);
  }
  // Set while only the loop knows the invocation: the worker reads it after the hand-off.
  inv->contents.reset(inv->event);
  if (inline_run) {
    return;
  }
  ++fn->run_members;
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
  if (inv->inline_run) {
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
      spdlog::debug(
          "REPORT function={} request={} event={} source={} attempt={} "
          "duration={:.3f}ms outcome={}",
          fn->name, request_id(inv), inv->event.id,
          built ? std::string_view(inv->event.source) : std::string_view(), inv->attempt,
          inv->seconds * 1000, core::to_string(inv->outcome.kind));
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

// `outcome` may be the invocation's own (inv->outcome): it is read or moved before `inv` is
// recycled.
void Scheduler::settle(Invocation* inv, core::Outcome& outcome) {
  FunctionState* fn = inv->function;
  outcome.attempts = inv->attempt;
  if (!outcome.ok() && outcome.kind != core::OutcomeKind::kRejected) {
    // Its worker is done with it (or it is a carrier, detach()): the loop may build it. A failed
    // event is logged by id, retried, or dead-lettered with its contents.
    inv->event.materialize();
  }
  if (inv->batch() && outcome.ok() && !abandoned_) {
    split_batch(inv, outcome);
  }
  if (abandoned_ && !outcome.ok()) {
    // No more retries or dead letters once the daemon gave up: the source redelivers.
    outcome.kind = core::OutcomeKind::kRejected;
    complete(inv, outcome);
  } else if (outcome.ok() || inv->event.synchronous) {
    complete(inv, outcome);
  } else if (inv->attempt < fn->manifest.retry.attempts && !fn->removed) {
    schedule_retry(inv, outcome);
  } else {
    send_dead_letter(inv, outcome);
  }
}

void Scheduler::schedule_retry(Invocation* inv, const core::Outcome& outcome) {
  FunctionState* fn = inv->function;
  auto delay = retry_delay(fn->manifest.retry, inv->attempt, random_);
  ++fn->retries;
  fn->metrics.retries.inc_unshared();
  spdlog::info("function {} event {} failed ({}: {}); retry {} of {} in {}ms", fn->name,
               event_name(inv), outcome.error_type, outcome.error_message, inv->attempt,
               fn->manifest.retry.attempts - 1, delay.count());
  fn->retrying.push_back(inv);
  inv->retry_timer = std::make_unique<core::Timer>(loop_, [this, inv] {
    FunctionState* owner = inv->function;
    auto it = std::find(owner->retrying.begin(), owner->retrying.end(), inv);
    assert(it != owner->retrying.end());
    owner->retrying.erase(it);
    // A retry was accepted long ago: it goes first and is never refused for a full queue.
    owner->queue.push_front(inv);
    // The timer is running its own callback: let it go at a safe point.
    loop_.defer([timer = std::shared_ptr<core::Timer>(std::move(inv->retry_timer))] {});
    pump(owner);
  });
  inv->retry_timer->start(delay);
}

void Scheduler::send_dead_letter(Invocation* inv, core::Outcome& outcome) {
  FunctionState* fn = inv->function;
  std::size_t letters = inv->batch() ? inv->items.size() : 1;
  fn->dead_letters += letters;
  fn->metrics.dead_letters.inc_unshared(letters);
  // Keep the invocation (and its slot in `retrying`, so drain waits) until the sink has answered
  // for every letter.
  fn->retrying.push_back(inv);
  struct Pending {
    std::size_t remaining;
    std::vector<core::Outcome> outcomes;  // One per letter.
  };
  auto pending = std::make_shared<Pending>();
  pending->remaining = letters;
  pending->outcomes.assign(letters, std::move(outcome));
  auto on_written = [this, inv, pending](std::size_t index, core::Status status) {
    FunctionState* owner = inv->function;
    core::Event& event = inv->batch() ? inv->items[index] : inv->event;
    if (status.ok()) {
      pending->outcomes[index].dead_lettered = true;
    } else {
      dead_letter_failures_.inc_unshared();
      spdlog::error(
          "function {}: dead letter for event {} could not be written: {}; the event "
          "is not acknowledged and will be redelivered",
          owner->name, event.id, status.error().message());
    }
    if (--pending->remaining > 0) {
      return;
    }
    auto it = std::find(owner->retrying.begin(), owner->retrying.end(), inv);
    if (it != owner->retrying.end()) {
      owner->retrying.erase(it);
    }
    if (inv->batch()) {
      owner->metrics.count_completed(pending->outcomes.front(), inv->items.size());
      --outstanding_;
      for (std::size_t i = 0; i < inv->items.size(); ++i) {
        core::Completion completion = std::move(inv->items[i].completion);
        if (completion) {
          completion(inv->items[i], pending->outcomes[i]);
        }
      }
      recycle(inv);
    } else {
      complete(inv, pending->outcomes.front());
    }
    after_change(owner);
  };
  // The last answer may come synchronously and recycle `inv`: nothing reads it after that.
  for (std::size_t i = 0; i < letters; ++i) {
    const core::Event& event = inv->batch() ? inv->items[i] : inv->event;
    DeadLetter letter{fn->name, fn->manifest.dead_letter, event, pending->outcomes[i]};
    dead_letters_.send(letter,
                       [on_written, i](core::Status status) { on_written(i, std::move(status)); });
  }
}

bool Scheduler::split_batch(Invocation* inv, core::Outcome& outcome) {
  BatchItemFailures report = read_batch_item_failures(outcome.response.body, inv->items);
  if (report.whole_batch_error) {
    outcome =
        core::Outcome::failure(core::OutcomeKind::kFunctionError, std::string(kBatchItemFailure),
                               std::move(*report.whole_batch_error));
    return true;
  }
  if (report.failed.empty()) {
    return false;
  }
  // The items that succeeded are answered now; the failed ones stay for the retry.
  std::vector<core::Event> done;
  std::vector<core::Event> kept;
  for (std::size_t i = 0; i < inv->items.size(); ++i) {
    (report.failed[i] ? kept : done).push_back(std::move(inv->items[i]));
  }
  inv->function->metrics.count_completed(outcome, done.size());
  for (core::Event& item : done) {
    core::Completion completion = std::move(item.completion);
    if (completion) {
      core::Outcome copy = outcome;
      completion(item, copy);
    }
  }
  inv->items = std::move(kept);
  outcome = core::Outcome::failure(
      core::OutcomeKind::kFunctionError, std::string(kBatchItemFailure),
      fmt::format("the function reported this item as failed ({} of {} in the batch)",
                  inv->items.size(), inv->items.size() + done.size()));
  outcome.attempts = inv->attempt;
  return true;
}

void Scheduler::complete(Invocation* inv, core::Outcome& outcome) {
  FunctionState* fn = inv->function;
  fn->metrics.count_completed(outcome, inv->events());
  if (!outcome.ok()) {
    spdlog::debug("function {} event {} ended {} after {} attempt(s): {}: {}", fn->name,
                  event_name(inv), core::to_string(outcome.kind), outcome.attempts,
                  outcome.error_type, outcome.error_message);
  }
  --outstanding_;
  // Contents never built are let go before the completions: the source that holds what they
  // point into may go away in its completion.
  if (inv->batch()) {
    for (std::size_t i = 0; i < inv->items.size(); ++i) {
      inv->items[i].pending.reset();
      core::Completion completion = std::move(inv->items[i].completion);
      if (!completion) {
        continue;
      }
      if (i + 1 == inv->items.size()) {
        completion(inv->items[i], outcome);
      } else {
        core::Outcome copy = outcome;
        completion(inv->items[i], copy);
      }
    }
  } else {
    const core::Completion completion = std::move(inv->event.completion);
    if (completion) {
      // Never built, its fields are an earlier event's (adopt()): it goes with its identity.
      inv->contents.complete(inv->event, completion, outcome);
    } else {
      inv->event.pending.reset();
    }
  }
  recycle(inv);
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
