#include "async/async_queue.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <utility>

#include "async/async_queue_state.h"
#include "async/invocation_record.h"
#include "core/ids.h"
#include "scheduler/backoff.h"

namespace switchyard::async {

namespace {

core::Counter& destination_records(core::MetricsRegistry& metrics, const std::string& function,
                                   const std::string& destination, const std::string& result) {
  return metrics.counter(
      "switchyard_async_destination_records_total",
      "Invocation records written to asynchronous destinations, by destination and result.",
      {{"function", function}, {"destination", destination}, {"result", result}});
}

}  // namespace

std::string_view to_string(Acceptance acceptance) {
  switch (acceptance) {
    case Acceptance::kAccepted:
      return "accepted";
    case Acceptance::kFull:
      return "full";
    case Acceptance::kFailed:
      return "failed";
    case Acceptance::kRejected:
      return "rejected";
  }
  return "unknown";
}

AsyncQueue::FunctionQueue::FunctionQueue(core::MetricsRegistry& metrics,
                                         const std::string& function)
    : name(function),
      accepted(metrics.counter("switchyard_async_accepted_total",
                               "Asynchronous invocations written to the durable queue.",
                               {{"function", function}})),
      refused_full(metrics.counter("switchyard_async_refused_total",
                                   "Asynchronous invocations refused, by reason.",
                                   {{"function", function}, {"reason", "full"}})),
      refused_failed(metrics.counter("switchyard_async_refused_total",
                                     "Asynchronous invocations refused, by reason.",
                                     {{"function", function}, {"reason", "write_failed"}})),
      recovered_total(
          metrics.counter("switchyard_async_recovered_total",
                          "Asynchronous invocations found in the durable queue at start-up.",
                          {{"function", function}})),
      expired(metrics.counter("switchyard_async_expired_total",
                              "Asynchronous invocations given up for their age "
                              "(async.max_event_age).",
                              {{"function", function}})),
      retries(metrics.counter("switchyard_retries_total", "Retries scheduled after a failure.",
                              {{"function", function}})),
      dead_letters(metrics.counter("switchyard_dead_letters_total",
                                   "Events handed to the dead-letter destination.",
                                   {{"function", function}})),
      on_success_written(destination_records(metrics, function, "on_success", "written")),
      on_failure_written(destination_records(metrics, function, "on_failure", "written")),
      on_success_failed(destination_records(metrics, function, "on_success", "failed")),
      on_failure_failed(destination_records(metrics, function, "on_failure", "failed")),
      queued(metrics.gauge("switchyard_async_queued",
                           "Asynchronous invocations in the durable queue.",
                           {{"function", function}})),
      queued_bytes(metrics.gauge("switchyard_async_queued_bytes",
                                 "Bytes of asynchronous invocations in the durable queue.",
                                 {{"function", function}})),
      oldest_age(metrics.gauge("switchyard_async_oldest_age_seconds",
                               "Age of the oldest asynchronous invocation in the durable queue.",
                               {{"function", function}})) {}

core::Result<std::unique_ptr<AsyncQueue>> AsyncQueue::open(core::Loop& loop,
                                                           scheduler::Dispatcher& dispatcher,
                                                           scheduler::DeadLetterSink& dead_letters,
                                                           core::MetricsRegistry& metrics,
                                                           const std::filesystem::path& file,
                                                           QueueStore::Options options) {
  auto store = QueueStore::open(file, options);
  if (!store.ok()) {
    return core::Error(store.error().code(), "the durable queue of asynchronous invocations (" +
                                                 file.string() + "): " + store.error().message());
  }
  return std::unique_ptr<AsyncQueue>(
      new AsyncQueue(loop, dispatcher, dead_letters, metrics, file, std::move(store).value()));
}

AsyncQueue::AsyncQueue(core::Loop& loop, scheduler::Dispatcher& dispatcher,
                       scheduler::DeadLetterSink& dead_letters, core::MetricsRegistry& metrics,
                       std::filesystem::path file, std::unique_ptr<QueueStore> store)
    : loop_(loop),
      dispatcher_(dispatcher),
      dead_letters_(dead_letters),
      metrics_(metrics),
      file_(std::move(file)),
      store_(std::move(store)),
      random_(std::random_device{}()),
      committed_(loop, [this](std::vector<Committed>& committed) { on_committed(committed); }),
      writes_(metrics.counter("switchyard_async_writes_total",
                              "Asynchronous invocations committed to the durable queue.")),
      commits_(
          metrics.counter("switchyard_async_commits_total", "Transactions of the durable queue.")),
      fsyncs_(metrics.counter("switchyard_async_fsyncs_total",
                              "Transactions of the durable queue that fsynced (those with an "
                              "append).")),
      failed_commits_(metrics.counter(
          "switchyard_async_failed_commits_total",
          "Transactions of the durable queue that failed (a full disk, an I/O error).")) {
  // Nothing is expected from the writer while nothing is being appended.
  committed_.unref();
  store_->set_batch_done([this] { committed_.push_many(committing_); });
  gauge_timer_ = std::make_unique<core::Timer>(loop_, [this] { update_gauges(); });
  gauge_timer_->start(std::chrono::seconds(1), std::chrono::seconds(1));
  gauge_timer_->unref();
}

AsyncQueue::~AsyncQueue() {
  *alive_ = false;
  close();
  for (auto& [name, queue] : queues_) {
    if (queue->watch != 0) {
      dispatcher_.unwatch_capacity(queue->watch);
    }
  }
}

AsyncQueue::FunctionQueue& AsyncQueue::queue_of(const std::string& function) {
  auto it = queues_.find(function);
  if (it == queues_.end()) {
    it = queues_.emplace(function, std::make_unique<FunctionQueue>(metrics_, function)).first;
  }
  return *it->second;
}

void AsyncQueue::configure(const std::vector<config::FunctionManifest>& functions,
                           std::string_view region, std::string_view account_id) {
  region_ = std::string(region);
  account_id_ = std::string(account_id);
  for (auto& [name, queue] : queues_) {
    queue->configured = false;
  }
  for (const config::FunctionManifest& manifest : functions) {
    FunctionQueue& queue = queue_of(manifest.name);
    queue.configured = true;
    queue.refused = false;
    queue.settings = manifest.async;
    queue.retry = manifest.retry;
    queue.dead_letter = manifest.dead_letter;
    if (!manifest.async.shared.configured()) {
      queue.shared.reset();
    }
    store_->set_limits(manifest.name,
                       Limits{manifest.async.queue_events, manifest.async.queue_bytes});
    if (queue.watch == 0) {
      FunctionQueue* watched = &queue;
      queue.watch = dispatcher_.watch_capacity(manifest.name, [this, watched] { pump(*watched); });
    }
  }
  for (auto& [name, queue] : queues_) {
    if (!queue->configured && queue->watch != 0) {
      dispatcher_.unwatch_capacity(queue->watch);
      queue->watch = 0;
    }
    if (!queue->configured && !queue->waiting.empty()) {
      spdlog::warn(
          "function {} is gone; its {} asynchronous invocation(s) stay in the durable queue "
          "until it comes back",
          name, queue->waiting.size());
    }
    pump(*queue);
  }
}

core::Result<std::size_t> AsyncQueue::recover() {
  auto records = store_->load();
  if (!records.ok()) {
    return core::Error(records.error().code(), "cannot read the durable queue " + file_.string() +
                                                   ": " + records.error().message());
  }
  const std::int64_t now = now_ms();
  std::size_t count = 0;
  for (Record& record : records.value()) {
    if (entries_.count(record.id) != 0) {
      continue;
    }
    FunctionQueue& queue = queue_of(record.function);
    auto entry = std::make_unique<Entry>();
    entry->queue = &queue;
    entry->record = std::move(record);
    entry->key = entry->record.id;
    Entry* raw = entry.get();
    entries_.emplace(raw->key, std::move(entry));
    ++queue.recovered;
    queue.recovered_total.inc_unshared();
    ++count;
    const std::int64_t due = raw->record.next_attempt_at_ms;
    if (due > now) {
      retry_later(raw, std::chrono::milliseconds(due - now));
    } else {
      queue.waiting.push_back(raw);
    }
  }
  for (auto& [name, queue] : queues_) {
    if (queue->recovered > 0) {
      spdlog::info("function {}: {} asynchronous invocation(s) recovered from the durable queue{}",
                   name, queue->recovered,
                   queue->configured ? "" : " (the function is not configured: kept)");
    }
    pump(*queue);
  }
  update_gauges();
  return count;
}

void AsyncQueue::invoke(std::string_view function, const std::string& request_id,
                        core::Event&& event, Answer answer) {
  if (stopped_) {
    answer(AcceptResult{Acceptance::kRejected, "switchyard is shutting down"});
    return;
  }
  append(function, request_id, std::move(event), std::move(answer));
}

void AsyncQueue::append(std::string_view function, const std::string& request_id,
                        core::Event&& event, Answer answer) {
  auto it = queues_.find(function);
  if (it == queues_.end() || !it->second->configured) {
    answer(
        AcceptResult{Acceptance::kRejected, fmt::format("function {} is not serving", function)});
    return;
  }
  FunctionQueue& queue = *it->second;
  Record record;
  record.id = request_id;
  record.function = queue.name;
  record.event = std::move(event);
  record.event.completion = nullptr;
  record.enqueued_at_ms = now_ms();
  record.next_attempt_at_ms = record.enqueued_at_ms;
  if (queue.settings.shared.configured()) {
    add_shared(queue, std::move(record), std::move(answer));
    return;
  }
  const Admission admission =
      store_->append(record, [this, id = request_id](const AppendResult& result) {
        // On the store's writer thread: the loop takes them from here, after the transaction.
        committing_.push_back(Committed{id, result});
      });
  switch (admission) {
    case Admission::kQueued:
      break;
    case Admission::kFull: {
      queue.refused_full.inc_unshared();
      FunctionUsage usage = store_->usage(queue.name);
      answer(AcceptResult{
          Acceptance::kFull,
          fmt::format("the asynchronous queue of function {} is full ({} invocation(s), {} "
                      "byte(s); async.queue allows {} and {})",
                      queue.name, usage.events, usage.bytes, queue.settings.queue_events,
                      queue.settings.queue_bytes)});
      return;
    }
    case Admission::kDuplicate:
      answer(AcceptResult{Acceptance::kRejected, "an asynchronous invocation with request id " +
                                                     request_id + " is already queued"});
      return;
    case Admission::kClosed:
      answer(AcceptResult{Acceptance::kRejected, "switchyard is shutting down"});
      return;
  }
  if (appending_.empty()) {
    committed_.ref();
  }
  appending_.emplace(request_id, Appending{std::move(record), std::move(answer)});
}

void AsyncQueue::on_committed(std::vector<Committed>& committed) {
  std::vector<FunctionQueue*> touched;
  for (Committed& done : committed) {
    auto it = appending_.find(done.id);
    if (it == appending_.end()) {
      continue;
    }
    Appending appending = std::move(it->second);
    appending_.erase(it);
    FunctionQueue& queue = queue_of(appending.record.function);
    if (!done.result.durable()) {
      queue.refused_failed.inc_unshared();
      spdlog::warn("function {}: asynchronous invocation {} refused: cannot write it: {}",
                   queue.name, appending.record.id, done.result.message);
      appending.answer(
          AcceptResult{Acceptance::kFailed,
                       "cannot write the invocation to the durable queue: " + done.result.message});
      continue;
    }
    queue.accepted.inc_unshared();
    auto entry = std::make_unique<Entry>();
    entry->queue = &queue;
    entry->record = std::move(appending.record);
    entry->key = entry->record.id;
    Entry* raw = entry.get();
    entries_.emplace(raw->key, std::move(entry));
    queue.waiting.push_back(raw);
    appending.answer(AcceptResult{Acceptance::kAccepted, std::string()});
    if (std::find(touched.begin(), touched.end(), &queue) == touched.end()) {
      touched.push_back(&queue);
    }
  }
  if (appending_.empty()) {
    committed_.unref();
  }
  for (FunctionQueue* queue : touched) {
    pump(*queue);
  }
}

void AsyncQueue::pump(FunctionQueue& queue) {
  if (stopped_ || !queue.configured || queue.refused) {
    return;
  }
  while (!queue.waiting.empty()) {
    Entry* entry = queue.waiting.front();
    queue.waiting.pop_front();
    const int attempts = queue.settings.attempts(queue.retry);
    if (entry->record.attempts >= attempts) {
      // Its last attempt failed before a restart, and it was not given up yet.
      give_up(entry,
              core::Outcome::failure(
                  core::OutcomeKind::kFunctionError, std::string(kRetriesExhausted),
                  fmt::format("{} attempt(s) made before a restart", entry->record.attempts)),
              kRetriesExhausted);
      continue;
    }
    if (age_ms(entry) >= queue.settings.max_event_age.count()) {
      queue.expired.inc_unshared();
      give_up(
          entry,
          core::Outcome::failure(core::OutcomeKind::kFunctionError, std::string(kEventAgeExceeded),
                                 fmt::format("the invocation waited {}ms, longer than "
                                             "async.max_event_age ({}ms)",
                                             age_ms(entry), queue.settings.max_event_age.count())),
          kEventAgeExceeded);
      continue;
    }
    // A copy: the record keeps its contents for the next attempt and the dead letter.
    core::Event event;
    core::copy_contents(entry->record.event, event);
    // Its failure comes back here: one attempt per dispatch.
    event.synchronous = true;
    event.completion = [this, entry](core::Event&, core::Outcome& outcome) {
      finished(entry, outcome);
    };
    entry->state = Entry::State::kRunning;
    ++queue.running;
    switch (dispatcher_.dispatch(queue.name, std::move(event))) {
      case scheduler::Admission::kStarted:
      case scheduler::Admission::kQueued:
        continue;
      case scheduler::Admission::kThrottled:
        // The capacity watch pumps again.
        break;
      case scheduler::Admission::kRejected:
        queue.refused = true;
        break;
    }
    --queue.running;
    entry->state = Entry::State::kWaiting;
    queue.waiting.push_front(entry);
    return;
  }
}

void AsyncQueue::finished(Entry* entry, core::Outcome& outcome) {
  FunctionQueue& queue = *entry->queue;
  --queue.running;
  if (outcome.kind == core::OutcomeKind::kRejected) {
    // Not run: the daemon is shutting down or gave up, or the function went. It stays in the
    // file and runs at the next start (or when the function comes back); a shared one goes back
    // to its reader, so that it stays in the shared queue.
    if (!entry->entry.empty()) {
      answer_reader(entry, false);
      queue.refused = true;
      return;
    }
    entry->state = Entry::State::kWaiting;
    queue.waiting.push_front(entry);
    queue.refused = true;
    return;
  }
  const int attempts = ++entry->record.attempts;
  if (outcome.ok()) {
    outcome.attempts = attempts;
    settle(entry, std::move(outcome), kSuccess);
    return;
  }
  if (attempts >= queue.settings.attempts(queue.retry)) {
    give_up(entry, std::move(outcome), kRetriesExhausted);
    return;
  }
  if (age_ms(entry) >= queue.settings.max_event_age.count()) {
    queue.expired.inc_unshared();
    give_up(entry, std::move(outcome), kEventAgeExceeded);
    return;
  }
  const auto delay = scheduler::retry_delay(queue.retry, attempts, random_);
  queue.retries.inc_unshared();
  spdlog::info("function {} asynchronous invocation {} failed ({}: {}); retry {} of {} in {}ms",
               queue.name, entry->record.id, outcome.error_type, outcome.error_message, attempts,
               queue.settings.attempts(queue.retry) - 1, delay.count());
  entry->record.next_attempt_at_ms = now_ms() + delay.count();
  if (!entry->entry.empty()) {
    put_back(entry, delay);
    return;
  }
  store_->update_attempt(entry->record.id, attempts, entry->record.next_attempt_at_ms);
  retry_later(entry, delay);
}

void AsyncQueue::retry_later(Entry* entry, std::chrono::milliseconds delay) {
  FunctionQueue& queue = *entry->queue;
  entry->state = Entry::State::kRetrying;
  ++queue.retrying;
  entry->timer = std::make_unique<core::Timer>(loop_, [this, entry] {
    FunctionQueue& owner = *entry->queue;
    --owner.retrying;
    if (entry->held) {
      --owner.held;
      entry->held = false;
    }
    entry->state = Entry::State::kWaiting;
    // A retry was accepted long ago: it goes first.
    owner.waiting.push_front(entry);
    // The timer is running its own callback: let it go at a safe point.
    loop_.defer([timer = std::shared_ptr<core::Timer>(std::move(entry->timer))] {});
    pump(owner);
  });
  entry->timer->start(delay);
  // A pending retry does not keep the daemon up: it waits in the file.
  entry->timer->unref();
}

void AsyncQueue::give_up(Entry* entry, core::Outcome outcome, std::string_view condition) {
  FunctionQueue& queue = *entry->queue;
  outcome.attempts = entry->record.attempts;
  spdlog::warn("function {} asynchronous invocation {} given up ({}) after {} attempt(s): {}: {}",
               queue.name, entry->record.id, condition, entry->record.attempts, outcome.error_type,
               outcome.error_message);
  settle(entry, std::move(outcome), condition);
}

void AsyncQueue::settle(Entry* entry, core::Outcome outcome, std::string_view condition) {
  FunctionQueue& queue = *entry->queue;
  using Delivery = Entry::Delivery;
  entry->state = Entry::State::kSettling;
  entry->outcome = std::move(outcome);
  entry->deliveries.clear();
  auto record = [&] {
    return invocation_record(InvocationRecordInput{
        entry->record.id, core::function_arn(region_, account_id_, queue.name), condition,
        entry->record.event, entry->outcome, std::chrono::system_clock::now()});
  };
  if (entry->outcome.ok()) {
    if (queue.settings.on_success.configured()) {
      entry->deliveries.push_back(
          Delivery{Delivery::Kind::kOnSuccess, queue.settings.on_success, record()});
    }
  } else {
    // Logged and counted when the function has no dead_letter, as the scheduler does.
    entry->deliveries.push_back(Delivery{Delivery::Kind::kDeadLetter, queue.dead_letter, {}});
    if (queue.settings.on_failure.configured()) {
      entry->deliveries.push_back(
          Delivery{Delivery::Kind::kOnFailure, queue.settings.on_failure, record()});
    }
  }
  deliver(entry);
}

void AsyncQueue::deliver(Entry* entry) {
  using Delivery = Entry::Delivery;
  FunctionQueue& queue = *entry->queue;
  // Each answer removes its delivery when written; the last answer settles the entry. One more
  // count than writes, released below, so that answers given before send() returns cannot
  // settle it while the loop still runs.
  std::vector<Delivery> sending = entry->deliveries;
  entry->unanswered = sending.size() + 1;
  std::weak_ptr<bool> alive = alive_;
  for (const Delivery& delivery : sending) {
    auto answered = [this, alive, entry, kind = delivery.kind](core::Status status) {
      if (alive.expired() || !*alive.lock()) {
        return;
      }
      FunctionQueue& owner = *entry->queue;
      core::Counter* written = nullptr;
      core::Counter* failed = nullptr;
      std::string_view what = "dead letter";
      switch (kind) {
        case Delivery::Kind::kDeadLetter:
          written = &owner.dead_letters;
          break;
        case Delivery::Kind::kOnSuccess:
          written = &owner.on_success_written;
          failed = &owner.on_success_failed;
          what = "on_success record";
          break;
        case Delivery::Kind::kOnFailure:
          written = &owner.on_failure_written;
          failed = &owner.on_failure_failed;
          what = "on_failure record";
          break;
      }
      if (status.ok()) {
        written->inc_unshared();
        auto& list = entry->deliveries;
        auto it = std::find_if(list.begin(), list.end(),
                               [kind](const Delivery& d) { return d.kind == kind; });
        if (it != list.end()) {
          list.erase(it);
        }
      } else {
        if (failed != nullptr) {
          failed->inc_unshared();
        }
        spdlog::error(
            "function {}: the {} of asynchronous invocation {} could not be written: {}; it "
            "stays queued and is written again in {}ms",
            owner.name, what, entry->record.id, status.error().message(),
            owner.retry.max_backoff.count());
      }
      delivered(entry);
    };
    if (delivery.destination.kind == config::kFunctionDestination) {
      core::Event event;
      event.id = core::random_uuid();
      event.source = "switchyard/async/" + queue.name;
      event.type = "switchyard.invocation-record";
      event.time = std::chrono::system_clock::now();
      event.datacontenttype = "application/json";
      event.data = delivery.record;
      const std::string id = event.id;
      // Also while stopping: a success during the drain keeps its record (it runs at the next
      // start) rather than running again.
      append(delivery.destination.target, id, std::move(event),
             [answered, target = delivery.destination.target](const AcceptResult& result) {
               answered(result.accepted()
                            ? core::Status()
                            : core::Status(core::Error(
                                  core::ErrorCode::kUnavailable,
                                  fmt::format("function {}: {}", target, result.message))));
             });
    } else {
      const std::string* record = delivery.record.empty() ? nullptr : &delivery.record;
      dead_letters_.send(scheduler::DeadLetter{queue.name, delivery.destination,
                                               entry->record.event, entry->outcome, record},
                         answered);
    }
  }
  delivered(entry);
}

void AsyncQueue::delivered(Entry* entry) {
  if (--entry->unanswered > 0) {
    return;
  }
  if (entry->deliveries.empty()) {
    forget(entry);
    return;
  }
  // What failed is written again later; while stopping, at the next start (the invocation runs
  // or is given up again then).
  if (stopped_) {
    if (!entry->entry.empty()) {
      answer_reader(entry, false);
    }
    return;
  }
  FunctionQueue& queue = *entry->queue;
  entry->timer = std::make_unique<core::Timer>(loop_, [this, entry] {
    loop_.defer([timer = std::shared_ptr<core::Timer>(std::move(entry->timer))] {});
    deliver(entry);
  });
  entry->timer->start(queue.retry.max_backoff);
  entry->timer->unref();
}

void AsyncQueue::forget(Entry* entry) {
  if (!entry->entry.empty()) {
    // Its reader removes it from the shared queue.
    answer_reader(entry, true);
    return;
  }
  std::string id = entry->record.id;
  store_->remove(id);
  entries_.erase(id);
}

std::int64_t AsyncQueue::age_ms(const Entry* entry) const {
  return now_ms() - entry->record.enqueued_at_ms;
}

void AsyncQueue::stop() {
  stopped_ = true;
  for (auto& [name, queue] : queues_) {
    release(name);
  }
}

void AsyncQueue::close() {
  if (store_) {
    store_->close();
  }
  // Their connections go while the loop still runs; what they answer as they go finds no
  // writer any more.
  std::vector<std::shared_ptr<SharedQueue>> writers = std::move(retired_writers_);
  for (auto& [name, queue] : queues_) {
    writers.push_back(std::move(queue->shared));
  }
  for (auto& [key, entry] : entries_) {
    writers.push_back(std::move(entry->writer));
  }
  writers.clear();
}

FunctionUsage AsyncQueue::usage(std::string_view function) const {
  auto it = queues_.find(function);
  if (it != queues_.end() && it->second->settings.shared.configured()) {
    return it->second->shared ? it->second->shared->usage() : FunctionUsage{};
  }
  return store_->usage(function);
}

AsyncStats AsyncQueue::stats(std::string_view function) const {
  AsyncStats stats;
  FunctionUsage usage = this->usage(function);
  stats.queued = usage.events;
  stats.queued_bytes = usage.bytes;
  if (usage.oldest_enqueued_at_ms != 0) {
    stats.oldest_age_ms = std::max<std::int64_t>(0, now_ms() - usage.oldest_enqueued_at_ms);
  }
  auto it = queues_.find(function);
  if (it != queues_.end()) {
    stats.waiting = it->second->waiting.size();
    stats.running = it->second->running;
    stats.retrying = it->second->retrying;
    stats.recovered = it->second->recovered;
  }
  return stats;
}

void AsyncQueue::update_gauges() {
  const std::int64_t now = now_ms();
  for (auto& [name, queue] : queues_) {
    FunctionUsage usage = this->usage(name);
    queue->queued.set(static_cast<double>(usage.events));
    queue->queued_bytes.set(static_cast<double>(usage.bytes));
    queue->oldest_age.set(usage.oldest_enqueued_at_ms == 0
                              ? 0.0
                              : static_cast<double>(now - usage.oldest_enqueued_at_ms) / 1000.0);
  }
  std::erase_if(retired_writers_,
                [](const std::shared_ptr<SharedQueue>& writer) { return writer->idle(); });
  QueueStats stats = store_->stats();
  writes_.inc(stats.records_written - reported_.records_written);
  commits_.inc(stats.commits - reported_.commits);
  fsyncs_.inc(stats.fsyncs - reported_.fsyncs);
  failed_commits_.inc(stats.failed_commits - reported_.failed_commits);
  reported_ = stats;
}

}  // namespace switchyard::async
