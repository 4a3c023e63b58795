#include "triggers/kafka/consumer_trigger.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "triggers/batch.h"
#include "triggers/kafka/client.h"
#include "triggers/kafka/consumer_trigger_impl.h"
#include "triggers/kafka/lambda_payload.h"
#include "triggers/kafka/partition.h"
#include "triggers/kafka/record_message.h"
#include "triggers/pull_source.h"

// Construction (the timers, the metrics, the PullSource's options), start(), and serving the
// consumer queue: taking its records into their partitions' buffers, and pausing a partition
// whose buffer is full. Also the client properties every consumer gets (consumer_defaults(),
// consumer_forced()) and make_consumer_trigger().

namespace switchyard::triggers::kafka {

namespace {

using std::chrono::milliseconds;

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

}  // namespace

KafkaConsumerTrigger::KafkaConsumerTrigger(TriggerContext& context, std::string function,
                                           const KafkaTriggerSettings& spec, ConfHolder conf)
    : context_(context),
      function_(std::move(function)),
      spec_(spec),
      ordering_(parse_ordering(spec.ordering)),
      batched_(spec.batch > 1 || spec.payload == "lambda-kafka"),
      lambda_(spec.payload == "lambda-kafka"),
      sequenced_(ordering_ == Ordering::kPartition && !batched_),
      limits_{2 * 1048576, std::max<std::size_t>(4 * static_cast<std::size_t>(spec.batch), 50000)},
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
  if (rd_kafka_conf_get(conf_.get(), "auto.commit.interval.ms", value, &size) == RD_KAFKA_CONF_OK) {
    commit_interval_ = milliseconds(std::max(100L, std::strtol(value, nullptr, 10)));
  }
  size = sizeof(value);
  if (rd_kafka_conf_get(conf_.get(), "max.partition.fetch.bytes", value, &size) ==
      RD_KAFKA_CONF_OK) {
    limits_.high_bytes =
        2 * static_cast<std::size_t>(std::max(1024L, std::strtol(value, nullptr, 10)));
  }
}

std::string KafkaConsumerTrigger::describe() const {
  return fmt::format("kafka {} ({}, group {}, ordering {})", spec_.topic, function_, spec_.group_id,
                     spec_.ordering);
}

core::Status KafkaConsumerTrigger::start() {
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

PullSource::Options KafkaConsumerTrigger::pull_options() const {
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
    options.encode = [](std::span<const core::Event> batch) { return encode_native_batch(batch); };
  }
  options.run_order = sequenced_ ? scheduler::Dispatcher::RunOrder::kSequence
                                 : scheduler::Dispatcher::RunOrder::kIndependent;
  return options;
}

core::Counter& KafkaConsumerTrigger::commit_counter(const char* result) {
  return context_.metrics.counter(
      "switchyard_kafka_commits_total", "Offset commits of a Kafka trigger, by result.",
      {{"function", function_}, {"topic", spec_.topic}, {"result", result}});
}

core::Counter& KafkaConsumerTrigger::rebalance_counter(const char* kind) {
  return context_.metrics.counter(
      "switchyard_kafka_rebalances_total", "Partitions assigned, revoked or lost in rebalances.",
      {{"function", function_}, {"topic", spec_.topic}, {"kind", kind}});
}

void KafkaConsumerTrigger::serve() {
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

void KafkaConsumerTrigger::take(MessageHolder holder) {
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

void KafkaConsumerTrigger::pause(Partition& partition) {
  spdlog::debug("kafka {} ({}): pausing partition {} ({} records, {} bytes buffered)", spec_.topic,
                function_, partition.id, partition.buffer.buffered(), partition.buffered_bytes);
  partition.paused = true;
  paused_.inc_unshared();
  PartitionListHolder list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), spec_.topic.c_str(), partition.id);
  rd_kafka_pause_partitions(rk_, list.get());
}

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
