#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "triggers/kafka/client.h"
#include "triggers/kafka/consumer_trigger_impl.h"
#include "triggers/kafka/partition.h"
#include "triggers/kafka/record_message.h"
#include "triggers/pull_source.h"

// Dispatching: handing the buffered and held records to the function as runs or batches as its
// capacity allows (pump()), and holding what it does not take. What becomes of a record once it
// is answered (completed()) is in consumer_trigger_impl.h: it is inlined into every record's
// completion. And backpressure: after each pump, pausing the partitions whose buffers are full
// and resuming the ones that drained.

namespace switchyard::triggers::kafka {

namespace {

using std::chrono::milliseconds;

}  // namespace

void KafkaConsumerTrigger::pump() {
  if (lifecycle_.stopping()) {
    return;
  }
  if (!pump_loop_.run([this] { pump_round(); }, [this] { return lifecycle_.stopping(); })) {
    return;  // Called from inside a pump: that one goes round again (see PumpLoop).
  }
  apply_backpressure();
}

void KafkaConsumerTrigger::request_pump() {
  if (!pump_loop_.ask_again()) {
    pump_soon_.request();
  }
}

void KafkaConsumerTrigger::pump_round() {
  std::size_t capacity = context_.dispatcher.capacity(function_);
  std::size_t batch = static_cast<std::size_t>(spec_.batch);
  std::uint64_t now = context_.loop.now_ms();
  std::uint64_t window = static_cast<std::uint64_t>(spec_.batch_window.count());
  std::optional<std::uint64_t> next_window;
  bool refused = false;
  // Records waiting to go again come first: they hold their partition's (or key's) place.
  capacity = std::min(capacity, dispatch_budget_);
  const std::size_t redispatched =
      held_.redispatch(now, capacity,
                       [this, &refused](const std::shared_ptr<Partition>& partition,
                                        std::vector<core::Event> events, milliseconds delay) {
                         redeliveries_.inc_unshared(events.size());
                         refused = !dispatch(partition, events, delay);
                         return !refused;
                       });
  capacity -= redispatched;
  dispatch_budget_ -= redispatched;
  bool progress = true;
  while (capacity > 0 && progress && !refused) {
    progress = false;
    for (auto& [id, shared] : partitions_) {
      if (capacity == 0 || refused) {
        break;
      }
      Partition& partition = *shared;
      if (!partition.assigned() ||
          (partition.buffer.buffered() == 0 && partition.returned.empty())) {
        continue;
      }
      if (!batched_) {
        if (!take_run(partition)) {
          continue;
        }
        --capacity;
        --dispatch_budget_;
        progress = true;
        refused = !dispatch_run(shared);
        continue;
      }
      if (batched_ && window > 0 && partition.buffer.buffered() < batch &&
          now < partition.oldest_ms + window) {
        std::uint64_t due = partition.oldest_ms + window;
        next_window = next_window ? std::min(*next_window, due) : due;
        continue;
      }
      taken_.clear();
      if (partition.take_ready(batch, taken_, now) == 0) {
        continue;
      }
      --capacity;
      --dispatch_budget_;
      progress = true;
      run_events_.clear();
      for (const auto& record : taken_) {
        run_events_.push_back(event_of(record.message.get(), /*cloudevents=*/!lambda_));
      }
      refused = !dispatch(shared, run_events_, milliseconds(0));
      taken_.clear();
    }
  }
  if (next_window) {
    window_timer_.start(milliseconds(*next_window - now));
  }
  if (dispatch_budget_ == 0 && watcher_) {
    watcher_->kick();  // The rest go after the loop's turn (serve() renews the budget).
  }
  arm_held_timer();
}

bool KafkaConsumerTrigger::take_run(Partition& partition) {
  // No more than the function takes now (one for an inline function or a busy one).
  const std::size_t limit = std::min(kRunRecords, context_.dispatcher.run_room(function_));
  return partition.take_run(limit, context_.loop.now_ms(), taken_, run_events_);
}

bool KafkaConsumerTrigger::dispatch_run(const std::shared_ptr<Partition>& partition) {
  for (auto& event : run_events_) {
    event.completion = pull_.completion<KafkaConsumerTrigger>(partition.get());
  }
  const std::size_t count = run_events_.size();
  const std::size_t taken = partition->offer_run(
      sequenced_ ? scheduler::Dispatcher::RunOrder::kSequence
                 : scheduler::Dispatcher::RunOrder::kIndependent,
      run_events_, [this](std::span<core::Event> events) { return pull_.offer(events).taken; });
  if (!sequenced_) {
    for (std::size_t i = taken; i < count; ++i) {
      std::vector<core::Event> one;
      one.push_back(std::move(run_events_[i]));
      hold(partition, std::move(one), milliseconds(0), /*now=*/true);
    }
  }
  run_events_.clear();
  return taken == count;
}

bool KafkaConsumerTrigger::dispatch(const std::shared_ptr<Partition>& partition,
                                    std::vector<core::Event>& items, milliseconds delay) {
  for (auto& item : items) {
    item.completion = pull_.completion<KafkaConsumerTrigger>(partition.get());
  }
  const std::size_t count = items.size();
  // Counted first: an inline function answers during the call.
  partition->in_scheduler += count;
  const std::size_t taken = pull_.offer(items).taken;
  partition->in_scheduler -= count - taken;
  if (taken == count) {
    items.clear();
    return true;
  }
  // Not taken: still ours. They stay in flight for their partition's order and offsets.
  items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(taken));
  hold(partition, std::move(items), delay, /*now=*/true);
  items.clear();
  return false;
}

void KafkaConsumerTrigger::hold(const std::shared_ptr<Partition>& partition,
                                std::vector<core::Event> items, milliseconds delay, bool now) {
  held_.hold(partition, std::move(items),
             context_.loop.now_ms() + (now ? 0 : static_cast<std::uint64_t>(delay.count())), delay);
  arm_held_timer();
}

void KafkaConsumerTrigger::arm_held_timer() {
  const std::optional<std::uint64_t> due = held_.next_due_ms();
  if (!due || lifecycle_.stopping()) {
    return;
  }
  std::uint64_t now = context_.loop.now_ms();
  // Refused records also go on capacity and on completions; the timer is the fallback.
  held_timer_.start(milliseconds(*due > now ? *due - now : 20));
}

void KafkaConsumerTrigger::on_held_timer() {
  if (!lifecycle_.stopping()) {
    pump();
  }
}

void KafkaConsumerTrigger::apply_backpressure() {
  if (rk_ == nullptr || lifecycle_.closing()) {
    return;
  }
  PartitionListHolder resume;  // Made only when needed: this runs after every completion.
  for (auto& [id, partition] : partitions_) {
    if (!partition->assigned()) {
      continue;
    }
    if (!partition->paused && queue_drained_ && partition->over_high(limits_)) {
      pause(*partition);
    } else if (partition->paused && partition->under_low(limits_)) {
      partition->paused = false;
      paused_.add_unshared(-1);
      spdlog::debug("kafka {} ({}): resuming partition {} ({} records, {} bytes buffered)",
                    spec_.topic, function_, id, partition->buffer.buffered(),
                    partition->buffered_bytes);
      if (!resume) {
        resume.reset(rd_kafka_topic_partition_list_new(1));
      }
      rd_kafka_topic_partition_list_add(resume.get(), spec_.topic.c_str(), id);
    }
  }
  if (resume) {
    rd_kafka_resume_partitions(rk_, resume.get());
    // librdkafka 2.0 starts fetching a resumed partition only at its fetcher's next wake-up,
    // up to a second later; a seek to where the partition stands (the pause dropped what was
    // fetched past it) wakes the fetcher now.
    PartitionListHolder seek(rd_kafka_topic_partition_list_new(resume->cnt));
    for (int i = 0; i < resume->cnt; ++i) {
      auto it = partitions_.find(resume->elems[i].partition);
      if (it != partitions_.end() && it->second->offsets.next() >= 0) {
        rd_kafka_topic_partition_list_add(seek.get(), spec_.topic.c_str(), it->first)->offset =
            it->second->offsets.next();
      }
    }
    if (seek->cnt > 0) {
      ErrorHolder error(rd_kafka_seek_partitions(rk_, seek.get(), /*timeout_ms=*/0));
      if (error) {
        spdlog::debug("kafka {} ({}): seek on resume failed: {}", spec_.topic, function_,
                      rd_kafka_error_string(error.get()));
      }
    }
    watcher_->kick();
  }
}

}  // namespace switchyard::triggers::kafka
