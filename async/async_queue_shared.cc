// A shared asynchronous queue (a Redis stream or a Kafka topic) as the AsyncQueue sees it: its
// writer adds what is accepted and puts a failed attempt back (SharedQueue); its reader, the
// trigger of that kind, hands what it reads to take(), reads only as far as capacity() allows,
// and is answered (answer_reader()) when an invocation settled or went back to the queue.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "async/async_queue.h"
#include "async/async_queue_state.h"

namespace switchyard::async {

void AsyncQueue::add_shared(FunctionQueue& queue, Record&& record, Answer answer) {
  if (!queue.shared) {
    queue.refused_failed.inc_unshared();
    answer(AcceptResult{
        Acceptance::kFailed,
        fmt::format("the shared asynchronous queue of function {} ({} {}) is not "
                    "set up yet",
                    queue.name, queue.settings.shared.kind, queue.settings.shared.target)});
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  FunctionQueue* owner = &queue;
  queue.shared->add(
      record, Limits{queue.settings.queue_events, queue.settings.queue_bytes},
      [alive, owner, id = record.id, answer = std::move(answer)](SharedQueue::Added added,
                                                                 const std::string& message) {
        if (alive.expired() || !*alive.lock()) {
          answer(AcceptResult{Acceptance::kRejected, "switchyard is shutting down"});
          return;
        }
        switch (added) {
          case SharedQueue::Added::kAdded:
            owner->accepted.inc_unshared();
            answer(AcceptResult{Acceptance::kAccepted, std::string()});
            return;
          case SharedQueue::Added::kFull:
            owner->refused_full.inc_unshared();
            answer(AcceptResult{
                Acceptance::kFull,
                fmt::format("the asynchronous queue of function {} is full ({}; async.queue "
                            "allows {} invocation(s) and {} byte(s))",
                            owner->name, message, owner->settings.queue_events,
                            owner->settings.queue_bytes)});
            return;
          case SharedQueue::Added::kFailed:
            owner->refused_failed.inc_unshared();
            spdlog::warn("function {}: asynchronous invocation {} refused: cannot write it: {}",
                         owner->name, id, message);
            answer(AcceptResult{Acceptance::kFailed,
                                "cannot write the invocation to the shared queue: " + message});
            return;
        }
      });
}

void AsyncQueue::attach(const std::string& function, std::shared_ptr<SharedQueue> queue) {
  std::shared_ptr<SharedQueue>& current = queue_of(function).shared;
  if (current && !current->idle()) {
    // Replaced at a reload: it answers what it sent before it goes (update_gauges()).
    retired_writers_.push_back(std::move(current));
  }
  current = std::move(queue);
}

scheduler::Admission AsyncQueue::take(std::string_view function, Record&& record, std::string entry,
                                      core::Event&& source) {
  auto it = queues_.find(function);
  if (stopped_ || it == queues_.end() || !it->second->configured) {
    return scheduler::Admission::kRejected;
  }
  FunctionQueue& queue = *it->second;
  std::string key = "shared " + entry;
  if (auto known = entries_.find(key); known != entries_.end()) {
    // Read again by a new reader (a reload replaced the one that read it, and the new one
    // replays the consumer's pending entries): it answers the new reader from now on, and the
    // old one lets it go.
    core::Event previous = std::move(known->second->source);
    known->second->source = std::move(source);
    if (previous.completion) {
      core::Outcome outcome = core::Outcome::failure(core::OutcomeKind::kRejected, "ReadAgain",
                                                     "handed to the reader that read it again");
      auto completion = std::move(previous.completion);
      completion(previous, outcome);
    }
    return scheduler::Admission::kQueued;
  }
  auto taken = std::make_unique<Entry>();
  taken->queue = &queue;
  taken->record = std::move(record);
  taken->key = std::move(key);
  taken->entry = std::move(entry);
  taken->source = std::move(source);
  taken->writer = queue.shared;
  Entry* raw = taken.get();
  entries_.emplace(raw->key, std::move(taken));
  const std::int64_t due = raw->record.next_attempt_at_ms - now_ms();
  if (due > 0) {
    ++queue.held;
    raw->held = true;
    retry_later(raw, std::chrono::milliseconds(due));
  } else {
    queue.waiting.push_back(raw);
    pump(queue);
  }
  return scheduler::Admission::kQueued;
}

std::size_t AsyncQueue::capacity(std::string_view function) const {
  auto it = queues_.find(function);
  if (stopped_ || it == queues_.end() || !it->second->configured || it->second->refused) {
    return 0;
  }
  // Retries read before they are due wait here, heartbeated by the reader; past a bound the
  // others are left for other daemons to read.
  constexpr std::size_t kMaxHeld = 1000;
  if (it->second->held >= kMaxHeld) {
    return 0;
  }
  const std::size_t room = dispatcher_.capacity(function);
  const std::size_t waiting = it->second->waiting.size();
  return room > waiting ? room - waiting : 0;
}

void AsyncQueue::release(std::string_view function) {
  auto it = queues_.find(function);
  if (it == queues_.end()) {
    return;
  }
  FunctionQueue& queue = *it->second;
  std::vector<Entry*> handed_back;
  for (auto& [key, entry] : entries_) {
    if (entry->queue == &queue && !entry->entry.empty() &&
        (entry->state == Entry::State::kWaiting || entry->state == Entry::State::kRetrying)) {
      handed_back.push_back(entry.get());
    }
  }
  for (Entry* entry : handed_back) {
    if (entry->state == Entry::State::kRetrying) {
      --queue.retrying;
      queue.held -= entry->held ? 1 : 0;
      entry->timer.reset();
    } else {
      queue.waiting.erase(std::find(queue.waiting.begin(), queue.waiting.end(), entry));
    }
    answer_reader(entry, false);
  }
}

void AsyncQueue::put_back(Entry* entry, std::chrono::milliseconds delay) {
  entry->state = Entry::State::kPuttingBack;
  if (!entry->writer) {
    if (stopped_) {
      answer_reader(entry, false);  // Its reader keeps it.
    } else {
      retry_later(entry, delay);
    }
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  entry->writer->requeue(
      entry->entry, entry->record,
      [this, alive, entry, where = entry->writer->describe()](core::Status status) {
        if (alive.expired() || !*alive.lock()) {
          return;
        }
        FunctionQueue& owner = *entry->queue;
        if (status.ok()) {
          answer_reader(entry, true);
          return;
        }
        if (status.error().code() == core::ErrorCode::kNotFound) {
          // Another daemon took it over (this one looked dead to it): it runs there.
          spdlog::warn(
              "function {}: asynchronous invocation {} was taken over by another daemon "
              "reading {}; it is left to that one",
              owner.name, entry->record.id, where);
          answer_reader(entry, false);
          return;
        }
        if (stopped_) {
          // Its reader keeps it: it runs again (this attempt not counted) when it is read again.
          spdlog::warn("function {}: asynchronous invocation {} could not be put back in {}: {}",
                       owner.name, entry->record.id, where, status.error().message());
          answer_reader(entry, false);
          return;
        }
        // It retries here instead, its entry kept from the other daemons by its reader.
        const auto delay = std::chrono::milliseconds(
            std::max<std::int64_t>(0, entry->record.next_attempt_at_ms - now_ms()));
        spdlog::warn(
            "function {}: asynchronous invocation {} could not be put back in {} ({}); it is "
            "retried here in {}ms",
            owner.name, entry->record.id, where, status.error().message(), delay.count());
        retry_later(entry, delay);
      });
}

void AsyncQueue::answer_reader(Entry* entry, bool done) {
  core::Event source = std::move(entry->source);
  const std::string key = entry->key;
  entries_.erase(key);
  if (!source.completion) {
    return;
  }
  core::Outcome outcome = done
                              ? core::Outcome::success({})
                              : core::Outcome::failure(core::OutcomeKind::kRejected, "NotSettled",
                                                       "handed back to the shared queue unsettled");
  auto completion = std::move(source.completion);
  completion(source, outcome);
}

}  // namespace switchyard::async
