#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/backoff.h"
#include "scheduler/batch_item_failures.h"
#include "scheduler/function_state.h"
#include "scheduler/invocation.h"
#include "scheduler/run.h"

// Settlement: what becomes of an invocation once it has an outcome. A success completes it (a
// batch's `batchItemFailures` keep the failed items back); a failure is retried after a backoff
// while attempts remain, then dead-lettered; either way its completion runs once and the
// invocation is recycled. Also the invocation that carries an event on without the one that ran
// it (detach()).

namespace switchyard::scheduler {

namespace {

// A copy of `event` for the retry path of a timed-out invocation, whose worker may still read
// the original. The completion moves: it must be called exactly once. Without `contents`, only
// what a completion relies on (id, source_tag, synchronous, wants_request_id).
core::Event copy_event(core::Event& event, bool contents) {
  core::Event copy;
  copy.id = event.id;
  copy.synchronous = event.synchronous;
  copy.wants_request_id = event.wants_request_id;
  copy.source_tag = event.source_tag;
  copy.completion = std::move(event.completion);
  if (!contents) {
    return copy;
  }
  core::copy_contents(event, copy);
  return copy;
}

}  // namespace

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

// `outcome` may be the invocation's own (inv->outcome): it is read or moved before `inv` is
// recycled.
void Scheduler::settle(Invocation* inv, core::Outcome& outcome) {
  FunctionState* fn = inv->function;
  outcome.attempts = inv->attempt;
  if (inv->event.wants_request_id) {
    outcome.request_id = request_id(inv);
  }
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

}  // namespace switchyard::scheduler
