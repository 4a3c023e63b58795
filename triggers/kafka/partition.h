#pragma once

// One partition of a consumer trigger: the records read and not dispatched yet (in their
// ordering buffer, triggers/kafka/ordering.h), the records of it in the scheduler, what becomes
// of a record when its outcome comes back, and its commit point (the lowest unfinished record,
// triggers/kafka/offset_tracker.h).
//
// A partition goes through three states (PartitionState): assigned, then revoking while the
// rebalance waits for its records in the scheduler, then dropped. Only an assigned partition
// takes records, dispatches them, or dispatches one again. Whatever the state, a record counts as
// finished (and the commit point may pass it) only when it succeeded or was dead-lettered.
//
// The state changes only through start_revoke() and drop(); the buffers and counters are public
// fields because each of the trigger's sections (dispatching, backpressure, commits, rebalances)
// reads them. Everything here runs once per record or per run: it is inline so that the
// trigger's hot path stays inlinable. No librdkafka call is made here (the trigger pauses,
// commits and unassigns).
//
// Thread rules: loop thread only (a plain value type; completions run on the loop thread).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/metrics.h"
#include "scheduler/dispatcher.h"
#include "triggers/kafka/offset_tracker.h"
#include "triggers/kafka/ordering.h"
#include "triggers/kafka/record_message.h"

namespace switchyard::triggers::kafka {

enum class PartitionState {
  // Assigned to this member: its records are read, dispatched and committed.
  kAssigned,
  // Revoked (or lost): its buffered records are dropped and it waits for those in the scheduler
  // before its offsets are committed and it is unassigned.
  kRevoking,
  // No longer assigned: kept only until its records in the scheduler are answered, since their
  // completions point at it.
  kDropped,
};

// What became of a record of the partition when its outcome came back (Partition::settle()).
enum class Settlement {
  // Never run (a record before it in its sequence failed, or its run ended first): back among
  // the partition's returned records, to go again, first, in offset order.
  kTakenBack,
  // Succeeded or dead-lettered: its offset may be committed.
  kFinished,
  // Failed and not dead-lettered (the dead-letter write failed): it holds its partition (or key)
  // back and the caller dispatches it again after redeliver_delay. Its offset does not move.
  kRedeliver,
  // Refused (shutdown) or answered after its partition was revoked: unfinished, so never
  // committed past; the partition's next owner reads it again.
  kAbandoned,
  // Its partition was dropped before it was answered: nothing is left to account for.
  kPartitionDropped,
};

// When a partition's buffer is full: it is paused at these bounds and resumed at half of them.
struct BufferLimits {
  std::size_t high_bytes = 0;
  std::size_t high_records = 0;
};

// The pause before a failed record without a dead letter is dispatched again; doubles to the
// maximum while it keeps failing.
inline constexpr std::chrono::milliseconds kRedeliverDelay{1000};
inline constexpr std::chrono::milliseconds kMaxRedeliverDelay{30000};

class Partition {
 public:
  Partition(std::int32_t id, Ordering ordering) : id(id), buffer(ordering) {}

  PartitionState state() const { return state_; }
  // Whether its records are read and dispatched (false while revoking and once dropped).
  bool assigned() const { return state_ == PartitionState::kAssigned; }

  // ---- Records read --------------------------------------------------------------------------

  // Buffers a record just read (`key`: nullopt for none) at loop time `now_ms`. False when the
  // partition is no longer assigned, or the record was taken before (a fetch that raced a
  // pause/resume): the record is then let go.
  bool take(std::optional<std::string_view> key, BufferedRecord record, std::uint64_t now_ms) {
    if (!assigned() || !offsets.takes(record.offset)) {
      return false;
    }
    if (buffer.buffered() == 0) {
      oldest_ms = now_ms;
    }
    buffered_bytes += record.cost;
    const std::int64_t offset = record.offset;
    // The offset keeps its record's lane, for the completion.
    offsets.take(offset, buffer.push(key, std::move(record)));
    return true;
  }

  // Takes up to `max` records that may be dispatched now (ordering.h) into `out`. Returns how
  // many (none once the partition is no longer assigned).
  std::size_t take_ready(std::size_t max, std::vector<BufferedRecord>& out, std::uint64_t now_ms) {
    if (!assigned()) {
      return 0;
    }
    const std::size_t before = out.size();
    const std::size_t taken = buffer.take_ready(max, out);
    if (taken == 0) {
      return 0;
    }
    for (std::size_t i = before; i < out.size(); ++i) {
      buffered_bytes -= std::min(buffered_bytes, out[i].cost);
    }
    oldest_ms = now_ms;
    return taken;
  }

  // Without batches: up to `limit` of the partition's next records that may go now, as events
  // into `out` (in offset order; those handed back come first, once the record that stopped
  // their sequence is done). `scratch` is the caller's reused vector. False when none may go.
  bool take_run(std::size_t limit, std::uint64_t now_ms, std::vector<BufferedRecord>& scratch,
                std::vector<core::Event>& out) {
    out.clear();
    if (!assigned()) {
      return false;
    }
    if (!returned.empty()) {
      if (in_scheduler > 0 || held > 0) {
        return false;
      }
      while (!returned.empty() && out.size() < limit) {
        out.push_back(std::move(returned.front()));
        returned.pop_front();
      }
      return true;
    }
    scratch.clear();
    if (take_ready(limit, scratch, now_ms) == 0) {
      return false;
    }
    for (auto& record : scratch) {
      out.push_back(pending_event_of(std::move(record)));
    }
    scratch.clear();
    return true;
  }

  // Offers `events` (records of this partition, completions set) as one run through
  // `offer(std::span<core::Event>)`, which returns how many the function took, and counts those
  // taken as in the scheduler (before the call: an inline function answers during it).
  // kSequence: what the function does not take goes back to the front of the returned records.
  // kIndependent: it stays in `events` from the returned index on, for the caller to hold.
  // Returns how many the function took.
  template <typename Offer>
  std::size_t offer_run(scheduler::Dispatcher::RunOrder order, std::vector<core::Event>& events,
                        Offer&& offer) {
    const std::size_t count = events.size();
    in_scheduler += count;
    const std::size_t taken = offer(std::span<core::Event>(events));
    in_scheduler -= count - taken;
    if (order == scheduler::Dispatcher::RunOrder::kSequence) {
      returned.insert(returned.begin(), std::make_move_iterator(events.begin() + taken),
                      std::make_move_iterator(events.end()));
    }
    return taken;
  }

  // ---- Outcomes ------------------------------------------------------------------------------

  // Accounts for the outcome of a record of this partition that was in the scheduler (`event`
  // is the record's, handed back by its completion). `stopping`: the trigger is stopping, so
  // nothing goes again. See Settlement for what the caller does next. Always inlined: it runs
  // once per record, inside the record's completion (see KafkaConsumerTrigger::completed()).
  [[gnu::always_inline]] Settlement settle(core::Event& event, const core::Outcome& outcome,
                                           bool stopping) {
    --in_scheduler;
    const bool not_run = scheduler::not_run(outcome);
    if (not_run && assigned() && !stopping) {
      take_back(event);
      return Settlement::kTakenBack;
    }
    // A message never built goes while its client surely lives.
    event.pending.reset();
    if (state_ == PartitionState::kDropped) {
      return Settlement::kPartitionDropped;
    }
    const auto offset = static_cast<std::int64_t>(event.source_tag);
    constexpr auto kNoLane = OrderedBuffer<BufferedRecord>::kNoLane;
    if (outcome.ok() || outcome.dead_lettered) {
      redeliver_delay = std::chrono::milliseconds(0);
      buffer.finish(offsets.finish(offset).value_or(kNoLane));
      return Settlement::kFinished;
    }
    if (assigned() && !stopping && outcome.kind != core::OutcomeKind::kRejected && !not_run) {
      redeliver_delay = redeliver_delay.count() == 0
                            ? kRedeliverDelay
                            : std::min(redeliver_delay * 2, kMaxRedeliverDelay);
      return Settlement::kRedeliver;
    }
    // Unfinished, so never committed past; the lane is freed only so that accounting stays
    // right.
    buffer.finish(offsets.tag_of(offset).value_or(kNoLane));
    return Settlement::kAbandoned;
  }

  // ---- Commits -------------------------------------------------------------------------------

  // The offset to commit (the next record to read after a restart: every record before it is
  // finished), or -1 when it has not moved past the last confirmed commit.
  std::int64_t commit_offset() const {
    const std::int64_t offset = offsets.committable();
    return offset >= 0 && offset > committed ? offset : -1;
  }

  // The group coordinator confirmed a commit of `offset`.
  void confirm_commit(std::int64_t offset) { committed = std::max(committed, offset); }

  // ---- Backpressure --------------------------------------------------------------------------

  bool over_high(const BufferLimits& limits, std::size_t factor = 1) const {
    return buffered_bytes >= factor * limits.high_bytes ||
           buffer.buffered() + held >= factor * limits.high_records;
  }

  bool under_low(const BufferLimits& limits) const {
    return buffered_bytes <= limits.high_bytes / 2 &&
           buffer.buffered() + held <= limits.high_records / 2;
  }

  // ---- Rebalances and stopping ---------------------------------------------------------------

  // Forgets the records that wait outside the scheduler (buffered, handed back, held): their
  // offsets stay uncommitted, so whoever reads the partition next gets them again.
  void discard_waiting() {
    buffer.clear();
    returned.clear();
    buffered_bytes = 0;
    held = 0;
  }

  // Assigned -> revoking: nothing more is dispatched; the records in the scheduler are waited
  // for.
  void start_revoke() {
    if (state_ == PartitionState::kDropped) {
      return;
    }
    state_ = PartitionState::kRevoking;
    discard_waiting();
  }

  // Assigned or revoking -> dropped: no longer the trigger's. Returns whether records of it are
  // still in the scheduler (the caller then keeps it alive until they are answered).
  bool drop() {
    state_ = PartitionState::kDropped;
    buffer.clear();
    returned.clear();
    return in_scheduler > 0;
  }

  std::int32_t id;
  PartitionOffsets offsets;
  // Records as librdkafka delivered them: their events are made when they are dispatched.
  OrderedBuffer<BufferedRecord> buffer;
  std::size_t in_scheduler = 0;  // Records handed to the dispatcher and not answered yet.
  std::size_t held = 0;          // Records waiting to be dispatched again.
  // `partition` ordering: records of a sequence the scheduler handed back unrun (a record before
  // them failed, or their run ended first), in offset order. Still in flight for `buffer`; they
  // go again, first, once nothing else of the partition is in the scheduler or held.
  std::deque<core::Event> returned;
  std::size_t buffered_bytes = 0;  // Estimated memory of the buffered records.
  std::int64_t committed = -1;     // The last offset the group coordinator confirmed.
  std::uint64_t oldest_ms = 0;     // Loop time the oldest buffered record arrived (batch_window).
  bool paused = false;             // Paused for backpressure (see BufferLimits).
  // The pause before a record whose dead letter failed goes again; doubles while they fail.
  std::chrono::milliseconds redeliver_delay{0};
  core::Gauge* lag = nullptr;

 private:
  // A record of a sequence handed back unrun: back among the returned records, in offset order
  // (a later sequence's leftovers may be there already).
  void take_back(core::Event& event) {
    auto at = std::upper_bound(
        returned.begin(), returned.end(), event.source_tag,
        [](std::uint64_t tag, const core::Event& other) { return tag < other.source_tag; });
    returned.insert(at, std::move(event));
  }

  PartitionState state_ = PartitionState::kAssigned;
};

}  // namespace switchyard::triggers::kafka
