#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "triggers/kafka/client.h"
#include "triggers/kafka/consumer_trigger_impl.h"
#include "triggers/kafka/partition.h"
#include "triggers/kafka/rebalance.h"

// Rebalances: librdkafka's rebalance callback, an assignment (a Partition per assigned
// partition), and a revoke, which waits for the revoked partitions' records in the scheduler (at
// most kRevokeWait), commits them unless they were lost, and unassigns them.

namespace switchyard::triggers::kafka {

void KafkaConsumerTrigger::rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                        rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<KafkaConsumerTrigger*>(opaque);
  (void)rk;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->on_assign(partitions);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    self->on_revoke(partitions);
  } else {
    spdlog::error("kafka {} ({}): rebalance failed: {}; dropping the assignment", self->spec_.topic,
                  self->function_, kafka::describe(err));
    self->on_revoke(partitions);
  }
}

bool KafkaConsumerTrigger::cooperative() const {
  return std::strcmp(rd_kafka_rebalance_protocol(rk_), "COOPERATIVE") == 0;
}

void KafkaConsumerTrigger::on_assign(rd_kafka_topic_partition_list_t* partitions) {
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

void KafkaConsumerTrigger::on_revoke(rd_kafka_topic_partition_list_t* partitions) {
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

bool KafkaConsumerTrigger::maybe_finish_revoke(bool force) {
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

}  // namespace switchyard::triggers::kafka
