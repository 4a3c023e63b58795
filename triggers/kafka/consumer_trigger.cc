// The consumer trigger wires librdkafka's consumer into the loop and the units that decide what
// happens to its records. Its sections are its jobs: serving the consumer queue, dispatching,
// backpressure, commits, rebalances, stopping. It keeps the librdkafka calls, the timers and the
// metrics; the decisions are in:
//   partition.h       a partition's buffer, its records in the scheduler and their outcomes
//                     (Settlement), its commit point, its state (PartitionState);
//   held_records.h    records waiting to be dispatched again;
//   commits.h         what is committed, and when periodic commits may go (CommitGate);
//   rebalance.h       the pending revoke (RebalanceState);
//   lifecycle.h       the order in which the trigger stops (LifecycleState);
//   pump_state.h      the pump that a completion may ask for again while it runs (PumpState);
//   record_message.h  librdkafka's message as a buffered record and an event;
// and what it shares with the other pulling sources (triggers/pull_source.h): offering a run or
// a batch to the function, the completions' lifetime guard, and the capacity watch.

#include "triggers/kafka/consumer_trigger.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "triggers/batch.h"
#include "triggers/kafka/client.h"
#include "triggers/kafka/commits.h"
#include "triggers/kafka/held_records.h"
#include "triggers/kafka/lambda_payload.h"
#include "triggers/kafka/lifecycle.h"
#include "triggers/kafka/offset_tracker.h"
#include "triggers/kafka/ordering.h"
#include "triggers/kafka/partition.h"
#include "triggers/kafka/pump_state.h"
#include "triggers/kafka/rebalance.h"
#include "triggers/kafka/record_message.h"
#include "triggers/pull_source.h"

namespace switchyard::triggers::kafka {

namespace {

using std::chrono::milliseconds;

// Records taken from librdkafka's queue per wake-up before the loop gets a turn (the rest on the
// next iteration), and records dispatched per wake-up (an inline function runs inside dispatch).
// More are taken than dispatched: when the function is slower than the fetches, the records wait
// in the trigger's buffers, whose bound pauses the partition, rather than in librdkafka's queue,
// whose bound (queued.max.messages.kbytes) stops fetching for up to a second in librdkafka 2.0
// (nothing wakes its fetcher when the queue drains; a resume does).
constexpr std::size_t kMaxRecordsPerWake = 65536;
constexpr std::size_t kMaxDispatchesPerWake = 2048;
// How long a synchronous commit (revoke, stop) may block the loop.
constexpr int kSyncCommitTimeoutMs = 5000;
// How long stop() waits for the consumer to leave its group.
constexpr milliseconds kCloseWait{10000};
// Records of a partition offered at once without batches (the scheduler's longest run): a
// pooled function runs them one after another on one slot; under `partition` ordering it stops
// at a failure.
constexpr std::size_t kRunRecords = 32;

// A configuration string property of `conf` ("" when unset).
std::string conf_string(rd_kafka_conf_t* conf, const char* name) {
  size_t size = 0;
  if (rd_kafka_conf_get(conf, name, nullptr, &size) != RD_KAFKA_CONF_OK) {
    return {};
  }
  std::string value(size, '\0');
  rd_kafka_conf_get(conf, name, value.data(), &size);
  value.resize(std::strlen(value.c_str()));
  return value;
}

// Its PullSource offers its records to the function (runs, or batches: the trigger keeps its own
// buffer and batch window per partition, and holds what the function does not take), guards
// their completions, and watches the function's capacity.
class KafkaConsumerTrigger final : public Trigger, public PullSource::Owner {
 public:
  KafkaConsumerTrigger(TriggerContext& context, std::string function,
                       const KafkaTriggerSettings& spec, ConfHolder conf)
      : context_(context),
        function_(std::move(function)),
        spec_(spec),
        ordering_(parse_ordering(spec.ordering)),
        batched_(spec.batch > 1 || spec.payload == "lambda-kafka"),
        lambda_(spec.payload == "lambda-kafka"),
        sequenced_(ordering_ == Ordering::kPartition && !batched_),
        limits_{2 * 1048576,
                std::max<std::size_t>(4 * static_cast<std::size_t>(spec.batch), 50000)},
        bootstrap_(conf_string(conf.get(), "bootstrap.servers")),
        conf_(std::move(conf)),
        commit_timer_(context.loop, [this] { on_commit_timer(); }),
        held_timer_(context.loop, [this] { on_held_timer(); }),
        window_timer_(context.loop, [this] { pump(); }),
        pump_soon_(context.loop, [this] { pump(); }),
        revoke_timer_(context.loop, [this] { maybe_finish_revoke(true); }),
        close_timer_(context.loop, [this] { on_close_timeout(); }),
        labels_{{"function", function_}, {"topic", spec.topic}},
        records_(context.metrics.counter("switchyard_kafka_records_total",
                                         "Kafka records read by a trigger.", labels_)),
        commits_ok_(commit_counter("ok")),
        commits_failed_(commit_counter("failed")),
        assigns_(rebalance_counter("assign")),
        revokes_(rebalance_counter("revoke")),
        losts_(rebalance_counter("lost")),
        redeliveries_(context.metrics.counter(
            "switchyard_kafka_redeliveries_total",
            "Records dispatched again by a Kafka trigger (throttled, or their dead letter "
            "failed).",
            labels_)),
        dead_letters_(context.metrics.counter(
            "switchyard_kafka_dead_letters_total",
            "Kafka records that went to their function's dead-letter destination.", labels_)),
        failures_(context.metrics.counter(
            "switchyard_kafka_failed_records_total",
            "Kafka records that failed without a dead letter and were held back.", labels_)),
        errors_(context.metrics.counter("switchyard_kafka_consumer_errors_total",
                                        "Errors reported by a Kafka consumer.", labels_)),
        paused_(context.metrics.gauge("switchyard_kafka_paused_partitions",
                                      "Partitions a Kafka trigger has paused for backpressure.",
                                      labels_)),
        assigned_(context.metrics.gauge("switchyard_kafka_assigned_partitions",
                                        "Partitions assigned to a Kafka trigger.", labels_)),
        pull_(context.loop, context.dispatcher, pull_options(), *this) {
    char value[64];
    size_t size = sizeof(value);
    if (rd_kafka_conf_get(conf_.get(), "auto.commit.interval.ms", value, &size) ==
        RD_KAFKA_CONF_OK) {
      commit_interval_ = milliseconds(std::max(100L, std::strtol(value, nullptr, 10)));
    }
    size = sizeof(value);
    if (rd_kafka_conf_get(conf_.get(), "max.partition.fetch.bytes", value, &size) ==
        RD_KAFKA_CONF_OK) {
      limits_.high_bytes =
          2 * static_cast<std::size_t>(std::max(1024L, std::strtol(value, nullptr, 10)));
    }
  }

  // Completions still to come do nothing: the PullSource's guard keeps what they point at.
  ~KafkaConsumerTrigger() override { teardown(/*closed=*/false, /*in_callback=*/false); }

  std::string describe() const override {
    return fmt::format("kafka {} ({}, group {}, ordering {})", spec_.topic, function_,
                       spec_.group_id, spec_.ordering);
  }

  core::Status start() override {
    rd_kafka_conf_set_opaque(conf_.get(), this);
    rd_kafka_conf_set_rebalance_cb(conf_.get(), &KafkaConsumerTrigger::rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf_.get(), &KafkaConsumerTrigger::commit_cb);
    rd_kafka_conf_set_error_cb(conf_.get(), &KafkaConsumerTrigger::error_cb);
    rd_kafka_conf_set_stats_cb(conf_.get(), &KafkaConsumerTrigger::stats_cb);
    auto client = make_client(RD_KAFKA_CONSUMER, std::move(conf_), describe());
    if (!client.ok()) {
      return client.error();
    }
    rk_ = client.value();
    rd_kafka_poll_set_consumer(rk_);
    queue_.reset(rd_kafka_queue_get_consumer(rk_));
    watcher_ = std::make_unique<QueueWatcher>(context_.loop, queue_.get(), [this] { serve(); });
    if (auto status = watcher_->start(); !status.ok()) {
      return status;
    }
    PartitionListHolder topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), spec_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return core::Error(
          core::ErrorCode::kUnavailable,
          fmt::format("cannot subscribe to {}: {}", spec_.topic, kafka::describe(err)));
    }
    pull_.start();
    commit_timer_.start(commit_interval_, commit_interval_);
    return {};
  }

  void stop(std::function<void()> done) override {
    if (!lifecycle_.begin_drain()) {
      return;
    }
    on_stopped_ = std::move(done);
    commit_timer_.stop();
    held_timer_.stop();
    window_timer_.stop();
    held_.clear();
    for (auto& [id, partition] : partitions_) {
      partition->discard_waiting();
    }
    spdlog::info("kafka {} ({}): stopping; waiting for {} record(s) in flight", spec_.topic,
                 function_, pull_.in_flight());
    maybe_stopped();
  }

  // PullSource::Owner. A record of `context` (its Partition, which stays valid while its records
  // are in the scheduler: see drop()) is done. Public, and called directly by the record's
  // completion (PullSource::completion<KafkaConsumerTrigger>()), into which it is inlined with
  // what it calls: this runs once per record.
  [[gnu::always_inline]] void completed(core::Event& event, core::Outcome& outcome,
                                        void* context) override {
    completed(static_cast<Partition*>(context), event, outcome);
  }
  // Never called: the trigger keeps its records in its own buffers, not staged in the
  // PullSource, and only offers them (what the function does not take stays with it).
  void rejected(std::vector<core::Event> /*events*/) override {}
  void capacity_returned() override { pump(); }

 private:
  PullSource::Options pull_options() const {
    PullSource::Options options;
    options.function = function_;
    // Batches, or runs: a pooled function runs several records one after another on one slot;
    // under `partition` ordering (a sequence) it stops at a failure.
    options.mode = batched_ ? PullSource::Mode::kBatch : PullSource::Mode::kRun;
    options.batch = batched_ ? static_cast<std::size_t>(spec_.batch) : kRunRecords;
    if (lambda_) {
      options.encode = [servers = bootstrap_](std::span<const core::Event> batch) {
        return encode_lambda_kafka(batch, servers);
      };
    } else {
      options.encode = [](std::span<const core::Event> batch) {
        return encode_native_batch(batch);
      };
    }
    options.run_order = sequenced_ ? scheduler::Dispatcher::RunOrder::kSequence
                                   : scheduler::Dispatcher::RunOrder::kIndependent;
    return options;
  }

  core::Counter& commit_counter(const char* result) {
    return context_.metrics.counter(
        "switchyard_kafka_commits_total", "Offset commits of a Kafka trigger, by result.",
        {{"function", function_}, {"topic", spec_.topic}, {"result", result}});
  }
  core::Counter& rebalance_counter(const char* kind) {
    return context_.metrics.counter(
        "switchyard_kafka_rebalances_total", "Partitions assigned, revoked or lost in rebalances.",
        {{"function", function_}, {"topic", spec_.topic}, {"kind", kind}});
  }

  // ---- Serving the consumer queue -----------------------------------------------------------

  void serve() {
    if (rk_ == nullptr || serving_) {
      return;
    }
    serving_ = true;
    // One record (or callback: rebalance, commit result, error) per call; bounded per wake-up
    // so that completions and timers get their turn, with a kick to come back for the rest.
    std::size_t served = 0;
    bool more = false;
    while (rk_ != nullptr) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(rk_, 0);
      if (message == nullptr) {
        break;
      }
      take(MessageHolder(message));
      if (++served >= kMaxRecordsPerWake) {
        more = true;
        break;
      }
    }
    serving_ = false;
    dispatch_budget_ = kMaxDispatchesPerWake;
    // Partitions are paused only now, with librdkafka's queue drained: a pause drops whatever
    // librdkafka still holds for the partition (its fetch position goes back to the last record
    // handed to us), which would be fetched and parsed again after the resume. What the queue
    // held is already in memory either way (our buffers hold librdkafka's own messages).
    queue_drained_ = !more;
    if (lifecycle_.closing()) {
      if (rk_ != nullptr && rd_kafka_consumer_closed(rk_)) {
        finish_close();
      } else if (more && watcher_) {
        watcher_->kick();
      }
      return;
    }
    pump();
    queue_drained_ = false;
    if ((more || dispatch_budget_ == 0) && watcher_) {
      watcher_->kick();
    }
  }

  void take(MessageHolder holder) {
    const rd_kafka_message_t* message = holder.get();
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        return;
      }
      errors_.inc_unshared();
      spdlog::warn("kafka {} ({}): consumer error: {}", spec_.topic, function_,
                   rd_kafka_message_errstr(message));
      return;
    }
    if (lifecycle_.stopping()) {
      return;  // Not committed: read again by whoever owns the partition next.
    }
    auto it = partitions_.find(message->partition);
    if (it == partitions_.end()) {
      return;
    }
    Partition& partition = *it->second;
    std::optional<std::string_view> key;
    if (message->key != nullptr) {
      key.emplace(static_cast<const char*>(message->key), message->key_len);
    }
    if (!partition.take(key, buffered_record(std::move(holder)), context_.loop.now_ms())) {
      return;  // Revoking, or already taken (a fetch that raced a pause/resume).
    }
    records_.inc_unshared();
    if (!partition.paused && partition.over_high(limits_, 2)) {
      // Normally paused after the wake-up's batch (apply_backpressure()); this bounds a
      // partition whose records keep coming faster than the loop drains the queue.
      pause(partition);
    }
  }

  void pause(Partition& partition) {
    spdlog::debug("kafka {} ({}): pausing partition {} ({} records, {} bytes buffered)",
                  spec_.topic, function_, partition.id, partition.buffer.buffered(),
                  partition.buffered_bytes);
    partition.paused = true;
    paused_.inc_unshared();
    PartitionListHolder list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), spec_.topic.c_str(), partition.id);
    rd_kafka_pause_partitions(rk_, list.get());
  }

  // ---- Dispatching -----------------------------------------------------------------------------

  // Hands ready records to the function as capacity allows, then pauses or resumes partitions.
  void pump() {
    if (lifecycle_.stopping()) {
      return;
    }
    if (!pump_loop_.run([this] { pump_round(); }, [this] { return lifecycle_.stopping(); })) {
      return;  // Called from inside a pump: that one goes round again (see PumpLoop).
    }
    apply_backpressure();
  }

  // After a completion: one pump for all the completions of this loop turn (a pooled
  // function's results come back in bunches), not one per record. Inside a pump (an inline
  // function answered during dispatch) the running pump goes round again instead.
  void request_pump() {
    if (!pump_loop_.ask_again()) {
      pump_soon_.request();
    }
  }

  void pump_round() {
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

  // Without batches: the partition's next records that may go now, into run_events_ (see
  // Partition::take_run()). False when none may.
  bool take_run(Partition& partition) {
    // No more than the function takes now (one for an inline function or a busy one).
    const std::size_t limit = std::min(kRunRecords, context_.dispatcher.run_room(function_));
    return partition.take_run(limit, context_.loop.now_ms(), taken_, run_events_);
  }

  // Offers run_events_, records of `partition`, as one run (PullSource::offer()). Under
  // `partition` ordering (a sequence) it stops at a failure, and what it does not take goes back
  // to the front of the partition's returned records; otherwise (`key` and `none`: records that
  // do not wait for each other) what it does not take is held, to go first when it has room.
  // Returns false when it did not take them all (it is full).
  bool dispatch_run(const std::shared_ptr<Partition>& partition) {
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

  // Offers `items`, records of `partition` (a batch, or a held record), as one dispatch
  // (PullSource::offer()). Returns false when the function did not take them all (it is full):
  // the rest are held and go again first, with `delay` handed back with them. `items` is left
  // empty.
  bool dispatch(const std::shared_ptr<Partition>& partition, std::vector<core::Event>& items,
                milliseconds delay) {
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

  // Keeps `items` to dispatch again: at once when the function has room (`now`), or after
  // `delay` (a failed dead letter).
  void hold(const std::shared_ptr<Partition>& partition, std::vector<core::Event> items,
            milliseconds delay, bool now = false) {
    held_.hold(partition, std::move(items),
               context_.loop.now_ms() + (now ? 0 : static_cast<std::uint64_t>(delay.count())),
               delay);
    arm_held_timer();
  }

  void arm_held_timer() {
    const std::optional<std::uint64_t> due = held_.next_due_ms();
    if (!due || lifecycle_.stopping()) {
      return;
    }
    std::uint64_t now = context_.loop.now_ms();
    // Refused records also go on capacity and on completions; the timer is the fallback.
    held_timer_.start(milliseconds(*due > now ? *due - now : 20));
  }

  void on_held_timer() {
    if (!lifecycle_.stopping()) {
      pump();
    }
  }

  // Inlined into the Owner override above (see there).
  [[gnu::always_inline]] void completed(Partition* partition, core::Event& event,
                                        core::Outcome& outcome) {
    switch (partition->settle(event, outcome, lifecycle_.stopping())) {
      case Settlement::kTakenBack:
        // It goes again once the record that stopped its sequence is done.
        request_pump();
        return;
      case Settlement::kPartitionDropped:
        // Revoked before its record was answered (revoke timeout): its offset was not committed
        // by us, so the partition's next owner reads it again.
        if (partition->in_scheduler == 0) {
          pull_.forget(partition);
        }
        maybe_stopped();
        return;
      case Settlement::kRedeliver: {
        failures_.inc_unshared();
        spdlog::warn(
            "kafka {} ({}): record {} failed and has no dead letter ({}: {}); "
            "it is dispatched again, its offset does not move",
            spec_.topic, function_, event.id, outcome.error_type, outcome.error_message);
        std::vector<core::Event> again;
        again.push_back(std::move(event));
        hold(partitions_.at(partition->id), std::move(again), partition->redeliver_delay);
        return;
      }
      case Settlement::kFinished:
        if (outcome.dead_lettered) {
          dead_letters_.inc_unshared();
        }
        break;
      case Settlement::kAbandoned:
        break;
    }
    if (partition->state() == PartitionState::kRevoking) {
      maybe_finish_revoke(false);
    }
    if (lifecycle_.stopping()) {
      maybe_stopped();
      return;
    }
    request_pump();
  }

  // ---- Backpressure -------------------------------------------------------------------------

  void apply_backpressure() {
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

  // ---- Commits --------------------------------------------------------------------------------

  void on_commit_timer() {
    if (rk_ == nullptr || lifecycle_.closing()) {
      return;
    }
    update_lag();
    if (!commit_gate_.allows(context_.loop.now_ms(), cooperative())) {
      return;  // A commit now could cost the whole assignment (see CommitGate).
    }
    PartitionListHolder list = commit_list(spec_.topic, partitions_);
    if (list->cnt == 0) {
      return;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list.get(), /*async=*/1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      commits_failed_.inc_unshared();
      spdlog::warn("kafka {} ({}): cannot commit offsets: {}", spec_.topic, function_,
                   kafka::describe(err));
    }
  }

  // Commits `ids` (all when empty) and waits for the answer, at most kSyncCommitTimeoutMs.
  void commit_sync(const std::vector<std::int32_t>& ids) {
    if (rk_ == nullptr) {
      return;
    }
    PartitionListHolder list = commit_list(spec_.topic, partitions_, ids);
    if (list->cnt == 0) {
      return;
    }
    QueueHolder answers(rd_kafka_queue_new(rk_));
    rd_kafka_resp_err_t err =
        rd_kafka_commit_queue(rk_, list.get(), answers.get(), nullptr, nullptr);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      EventHolder event(rd_kafka_queue_poll(answers.get(), kSyncCommitTimeoutMs));
      if (!event) {
        err = RD_KAFKA_RESP_ERR__TIMED_OUT;
      } else {
        err = rd_kafka_event_error(event.get());
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const rd_kafka_topic_partition_list_t* done =
              rd_kafka_event_topic_partition_list(event.get());
          if (record_commits(done != nullptr ? done : list.get(), partitions_)) {
            commits_ok_.inc_unshared();
          }
        }
      }
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      commits_failed_.inc_unshared();
      spdlog::warn(
          "kafka {} ({}): synchronous commit failed: {}; the uncommitted records will "
          "be delivered again",
          spec_.topic, function_, kafka::describe(err));
    }
  }

  void update_lag() {
    for (auto& [id, partition] : partitions_) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      if (rd_kafka_get_watermark_offsets(rk_, spec_.topic.c_str(), id, &low, &high) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0) {
        continue;
      }
      std::int64_t position = partition->offsets.committable();
      if (position < 0) {
        position = partition->committed >= 0 ? partition->committed : low;
      }
      partition->lag->set(static_cast<double>(std::max<std::int64_t>(0, high - position)));
    }
  }

  static void commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    auto* self = static_cast<KafkaConsumerTrigger*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
      return;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->commits_failed_.inc_unshared();
      if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS && self->rk_ != nullptr &&
          self->cooperative()) {
        // A cooperative rebalance keeps the partitions flowing, but a commit sent while this
        // member's JoinGroup is pending is answered after it, in the next generation, with
        // ILLEGAL_GENERATION, which librdkafka takes as the loss of the whole assignment
        // (every uncommitted record read again by the next owners). librdkafka does not say
        // when the join is over, so periodic commits wait until partitions are assigned to
        // this member, or kCommitHold at most; revokes and stops still commit synchronously.
        if (self->commit_gate_.state() == CommitGateState::kOpen) {
          spdlog::info("kafka {} ({}): the group is rebalancing; periodic commits wait for it",
                       self->spec_.topic, self->function_);
        }
        self->commit_gate_.hold(self->context_.loop.now_ms());
        return;
      }
      spdlog::warn("kafka {} ({}): offset commit failed: {}; retried at the next interval",
                   self->spec_.topic, self->function_, kafka::describe(err));
      return;
    }
    if (offsets != nullptr && record_commits(offsets, self->partitions_)) {
      self->commits_ok_.inc_unshared();
    }
  }

  // librdkafka's statistics, every statistics.interval.ms, on the loop thread (they come through
  // the consumer queue). Only the group's join state is read: a cooperative member whose
  // heartbeat learned of a rebalance rejoins at once, and a commit sent before the join is over
  // is answered ILLEGAL_GENERATION, which librdkafka 2.0 takes as the loss of the whole
  // assignment (librdkafka issue #4059, fixed upstream in 2.10). Periodic commits wait while the
  // member is not "steady"; the statistics may be up to one interval late.
  static int stats_cb(rd_kafka_t* rk, char* json, size_t json_len, void* opaque) {
    (void)rk;
    auto* self = static_cast<KafkaConsumerTrigger*>(opaque);
    std::optional<std::string> join_state = join_state_of(std::string_view(json, json_len));
    if (!join_state) {
      return 0;
    }
    if (self->commit_gate_.set_rejoining(is_rejoining(*join_state))) {
      spdlog::debug(
          "kafka {} ({}): the group is rebalancing (join state {}); periodic commits "
          "wait",
          self->spec_.topic, self->function_, *join_state);
    }
    return 0;  // librdkafka frees the JSON.
  }

  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaConsumerTrigger*>(opaque);
    self->errors_.inc_unshared();
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512];
      code = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
      spdlog::error("kafka {} ({}): fatal consumer error: {}: {}", self->spec_.topic,
                    self->function_, kafka::describe(code), fatal);
      return;
    }
    // Transport errors are retried by librdkafka itself: worth a warning, not an error.
    spdlog::warn("kafka {} ({}): {}: {}", self->spec_.topic, self->function_, kafka::describe(code),
                 reason);
  }

  // ---- Rebalances -------------------------------------------------------------------------------

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<KafkaConsumerTrigger*>(opaque);
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->on_assign(partitions);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      self->on_revoke(partitions);
    } else {
      spdlog::error("kafka {} ({}): rebalance failed: {}; dropping the assignment",
                    self->spec_.topic, self->function_, kafka::describe(err));
      self->on_revoke(partitions);
    }
  }

  bool cooperative() const {
    return std::strcmp(rd_kafka_rebalance_protocol(rk_), "COOPERATIVE") == 0;
  }

  void on_assign(rd_kafka_topic_partition_list_t* partitions) {
    if (partitions->cnt > 0 || !cooperative()) {
      // New partitions arrive at the end of a rebalance: this member is in the new generation.
      // (A cooperative member that only gave partitions up is told of an empty assignment and
      // rejoins at once: its hold stays.)
      commit_gate_.open();
    }
    // Resumed, then assigned (see assign_partitions()).
    if (std::string error = assign_partitions(rk_, partitions, cooperative()); !error.empty()) {
      spdlog::error("kafka {} ({}): {}assign failed: {}", spec_.topic, function_,
                    cooperative() ? "incremental " : "", error);
    }
    std::string names;
    for (int i = 0; i < partitions->cnt; ++i) {
      std::int32_t id = partitions->elems[i].partition;
      auto partition = std::make_shared<Partition>(id, ordering_);
      core::Labels labels = labels_;
      labels.emplace_back("partition", std::to_string(id));
      partition->lag = &context_.metrics.gauge(
          "switchyard_kafka_consumer_lag",
          "Records of a partition not yet processed and committed (high watermark minus the "
          "commit point), per assigned partition.",
          labels);
      if (auto it = partitions_.find(id); it != partitions_.end()) {
        drop(it->second);
      }
      partitions_[id] = std::move(partition);
      names += fmt::format("{}{}", names.empty() ? "" : ",", id);
    }
    assigns_.inc_unshared(static_cast<std::uint64_t>(partitions->cnt));
    assigned_.set(static_cast<double>(partitions_.size()));
    spdlog::info("kafka {} ({}): assigned partition(s) [{}] ({} protocol)", spec_.topic, function_,
                 names, rd_kafka_rebalance_protocol(rk_));
    if (watcher_) {
      watcher_->kick();
    }
  }

  void on_revoke(rd_kafka_topic_partition_list_t* partitions) {
    // A cooperative revoke is the first half of a rebalance: the member rejoins right after.
    if (cooperative()) {
      commit_gate_.hold(context_.loop.now_ms());
    } else {
      commit_gate_.open();
    }
    const bool lost = rd_kafka_assignment_lost(rk_) != 0;
    revoke_.begin(partitions, lost, partitions_);
    // Held records of revoked partitions are dropped: their offsets are not committed.
    held_.drop_unassigned();
    (lost ? losts_ : revokes_).inc_unshared(revoke_.ids().size());
    spdlog::info("kafka {} ({}): {} {} partition(s); waiting for their records in flight",
                 spec_.topic, function_, lost ? "lost" : "revoked", revoke_.ids().size());
    if (!maybe_finish_revoke(false)) {
      revoke_timer_.start(kRevokeWait);
    }
  }

  // Finishes a pending revoke once its partitions have nothing in flight (or `force`, when the
  // wait is over): commits them (unless lost) and unassigns them. Returns whether it finished.
  bool maybe_finish_revoke(bool force) {
    if (revoke_.state() != RebalanceState::kRevoking || rk_ == nullptr) {
      return false;
    }
    const std::size_t in_flight = revoke_.in_flight(partitions_);
    if (in_flight > 0 && !force) {
      return false;
    }
    if (in_flight > 0) {
      spdlog::warn(
          "kafka {} ({}): {} record(s) of revoked partitions still running after {}ms; "
          "their offsets are not committed and the next owner reads them again",
          spec_.topic, function_, in_flight, kRevokeWait.count());
    }
    revoke_timer_.stop();
    if (!revoke_.lost()) {
      commit_sync(revoke_.ids());
    }
    PartitionListHolder list = revoke_.finish();
    rd_kafka_resume_partitions(rk_, list.get());
    if (cooperative()) {
      ErrorHolder error(rd_kafka_incremental_unassign(rk_, list.get()));
      if (error) {
        spdlog::error("kafka {} ({}): incremental unassign failed: {}", spec_.topic, function_,
                      rd_kafka_error_string(error.get()));
      }
    } else {
      rd_kafka_assign(rk_, nullptr);
    }
    for (std::int32_t id : revoke_.ids()) {
      auto it = partitions_.find(id);
      if (it == partitions_.end()) {
        continue;
      }
      if (it->second->paused) {
        paused_.add_unshared(-1);
      }
      it->second->lag->set(0);
      drop(it->second);
      partitions_.erase(it);
    }
    assigned_.set(static_cast<double>(partitions_.size()));
    if (watcher_) {
      watcher_->kick();
    }
    return true;
  }

  // ---- Stopping ---------------------------------------------------------------------------------

  void maybe_stopped() {
    if (lifecycle_.state() != LifecycleState::kDraining || pull_.in_flight() > 0) {
      return;
    }
    lifecycle_.begin_close();
    if (revoke_.state() == RebalanceState::kRevoking) {
      maybe_finish_revoke(true);
    }
    if (rk_ == nullptr) {
      finish_stop();
      return;
    }
    commit_sync({});
    ErrorHolder error(rd_kafka_consumer_close_queue(rk_, queue_.get()));
    if (error) {
      spdlog::warn("kafka {} ({}): cannot leave the group cleanly: {}", spec_.topic, function_,
                   rd_kafka_error_string(error.get()));
      teardown(false);
      finish_stop();
      return;
    }
    // Checked every 50ms as well as on every queue wake-up: leaving the group may finish without
    // one.
    close_deadline_ms_ = context_.loop.now_ms() + static_cast<std::uint64_t>(kCloseWait.count());
    close_timer_.start(milliseconds(50), milliseconds(50));
    watcher_->kick();
  }

  void finish_close() {
    close_timer_.stop();
    teardown(true);
    finish_stop();
  }

  void on_close_timeout() {
    if (rk_ != nullptr && rd_kafka_consumer_closed(rk_)) {
      finish_close();
      return;
    }
    if (watcher_) {
      watcher_->kick();
    }
    if (context_.loop.now_ms() < close_deadline_ms_) {
      return;
    }
    spdlog::warn(
        "kafka {} ({}): the consumer did not leave its group within {}ms; closing "
        "without it",
        spec_.topic, function_, kCloseWait.count());
    teardown(false);
    finish_stop();
  }

  void finish_stop() {
    if (!lifecycle_.finish()) {
      return;
    }
    spdlog::info("kafka {} ({}): stopped", spec_.topic, function_);
    if (on_stopped_) {
      auto done = std::move(on_stopped_);
      on_stopped_ = nullptr;
      done();
    }
  }

  // `in_callback`: one of this trigger's own loop callbacks may be on the stack.
  void teardown(bool closed, bool in_callback = true) {
    commit_timer_.stop();
    held_timer_.stop();
    window_timer_.stop();
    revoke_timer_.stop();
    close_timer_.stop();
    if (watcher_) {
      watcher_->stop();
    }
    // Buffered records are librdkafka's messages, and so are held events never built: destroyed
    // before the client is.
    for (auto& [id, partition] : partitions_) {
      drop(partition);
    }
    partitions_.clear();
    taken_.clear();
    held_.clear();
    if (rk_ != nullptr) {
      rd_kafka_t* rk = rk_;
      rk_ = nullptr;
      queue_.reset();
      revoke_.abandon();
      const int flags = closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE;
      if (pull_.in_flight() > 0) {
        // Events in the scheduler may still hold its messages: it goes with the last of them,
        // once the trigger is gone too (a completion then lets go of its event's message first).
        // The dropped partitions kept with it hold no message (Partition::drop()).
        pull_.keep(std::shared_ptr<void>(rk, [flags](void* client) {
          rd_kafka_destroy_flags(static_cast<rd_kafka_t*>(client), flags);
        }));
      } else {
        rd_kafka_destroy_flags(rk, flags);
      }
    }
    if (watcher_ && in_callback) {
      // Its own callback may be on the stack (serve() -> finish_close()): freed at a safe point.
      context_.loop.defer([watcher = std::shared_ptr<QueueWatcher>(std::move(watcher_))] {});
    }
    watcher_.reset();
  }

  // Called before `partition` leaves partitions_: records of it still in the scheduler keep it
  // (their completions point at it) until they are answered.
  void drop(const std::shared_ptr<Partition>& partition) {
    if (partition->drop()) {
      pull_.keep(partition);
    }
  }

  TriggerContext& context_;
  std::string function_;
  KafkaTriggerSettings spec_;
  Ordering ordering_;
  bool batched_;
  bool lambda_;
  // `partition` ordering without batches: a partition's records go as sequences
  // (take_run(), Dispatcher::dispatch_run()).
  bool sequenced_;
  // A partition is paused when its buffer holds this many bytes (twice
  // max.partition.fetch.bytes: pausing below one fetch would pause at every fetch, and a resume
  // costs librdkafka a fetch round trip) or this many records, and resumed at half (what is left
  // covers librdkafka's fetch after the resume).
  BufferLimits limits_;
  milliseconds commit_interval_{1000};
  std::string bootstrap_;
  ConfHolder conf_;

  rd_kafka_t* rk_ = nullptr;
  QueueHolder queue_;
  std::unique_ptr<QueueWatcher> watcher_;
  PartitionMap partitions_;
  HeldRecords held_;
  PendingRevoke revoke_;

  core::Timer commit_timer_;
  core::Timer held_timer_;
  core::Timer window_timer_;
  core::BeforeWait pump_soon_;  // One pump for a turn's completions (request_pump).
  core::Timer revoke_timer_;
  core::Timer close_timer_;
  std::uint64_t close_deadline_ms_ = 0;

  core::Labels labels_;
  core::Counter& records_;
  core::Counter& commits_ok_;
  core::Counter& commits_failed_;
  core::Counter& assigns_;
  core::Counter& revokes_;
  core::Counter& losts_;
  core::Counter& redeliveries_;
  core::Counter& dead_letters_;
  core::Counter& failures_;
  core::Counter& errors_;
  core::Gauge& paused_;
  core::Gauge& assigned_;

  bool serving_ = false;
  bool queue_drained_ = false;  // serve() emptied librdkafka's queue: pausing drops nothing.
  std::size_t dispatch_budget_ = kMaxDispatchesPerWake;  // Renewed by every serve().
  PumpLoop pump_loop_;
  CommitGate commit_gate_;
  Lifecycle lifecycle_;
  std::function<void()> on_stopped_;
  std::vector<BufferedRecord> taken_;  // pump_round()'s records, reused.
  // The events of a run (take_run()) or a batch, reused.
  std::vector<core::Event> run_events_;
  // Last: destroyed first, so that no completion reaches a half-destroyed trigger.
  PullSource pull_;
};

}  // namespace

const std::map<std::string, std::string>& consumer_defaults() {
  static const std::map<std::string, std::string> defaults = {
      {"queued.max.messages.kbytes", "16384"},
      // A partition resumed after a backpressure pause joins the next Fetch request only when
      // the broker answers the one in flight, which it may hold this long when the other
      // partitions have nothing new (librdkafka's default is 500). An idle consumer then asks
      // each broker up to 10 times a second.
      {"fetch.wait.max.ms", "100"},
      // How often the trigger commits (its own timer; librdkafka's auto-commit is off, and its
      // default for this is 5000).
      {"auto.commit.interval.ms", "1000"},
      // librdkafka's high-level consumer counts this over all partitions at once (default
      // 100000, reached by one deep partition of small records): the byte bound above and the
      // trigger's own per-partition bound are the ones that should hold.
      {"queued.min.messages", "1000000"},
      // librdkafka's statistics say where the member is in a rebalance (cgrp.join_state):
      // periodic commits wait while it rejoins (see stats_cb). 0 turns this off.
      {"statistics.interval.ms", "250"},
  };
  return defaults;
}

const std::map<std::string, std::string>& consumer_forced() {
  static const std::map<std::string, std::string> forced = {
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "false"},
  };
  return forced;
}

TriggerPtr make_consumer_trigger(TriggerContext& context, std::string function,
                                 const KafkaTriggerSettings& spec, ConfHolder conf) {
  return std::make_unique<KafkaConsumerTrigger>(context, std::move(function), spec,
                                                std::move(conf));
}

}  // namespace switchyard::triggers::kafka
