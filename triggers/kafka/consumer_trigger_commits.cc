#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "triggers/kafka/client.h"
#include "triggers/kafka/commits.h"
#include "triggers/kafka/consumer_trigger_impl.h"

// Commits: the periodic asynchronous commit (unless the CommitGate holds it), the synchronous
// one of a revoke or a stop, the consumer lag, and librdkafka's commit results. Also its other
// callbacks: the statistics (which tell the CommitGate when the member rejoins its group) and
// errors.

namespace switchyard::triggers::kafka {

namespace {

// How long a synchronous commit (revoke, stop) may block the loop.
constexpr int kSyncCommitTimeoutMs = 5000;

}  // namespace

void KafkaConsumerTrigger::on_commit_timer() {
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

void KafkaConsumerTrigger::commit_sync(const std::vector<std::int32_t>& ids) {
  if (rk_ == nullptr) {
    return;
  }
  PartitionListHolder list = commit_list(spec_.topic, partitions_, ids);
  if (list->cnt == 0) {
    return;
  }
  QueueHolder answers(rd_kafka_queue_new(rk_));
  rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk_, list.get(), answers.get(), nullptr, nullptr);
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

void KafkaConsumerTrigger::update_lag() {
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

void KafkaConsumerTrigger::commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
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

int KafkaConsumerTrigger::stats_cb(rd_kafka_t* rk, char* json, size_t json_len, void* opaque) {
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

void KafkaConsumerTrigger::error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaConsumerTrigger*>(opaque);
  self->errors_.inc_unshared();
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    code = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    spdlog::error("kafka {} ({}): fatal consumer error: {}: {}", self->spec_.topic, self->function_,
                  kafka::describe(code), fatal);
    return;
  }
  // Transport errors are retried by librdkafka itself: worth a warning, not an error.
  spdlog::warn("kafka {} ({}): {}: {}", self->spec_.topic, self->function_, kafka::describe(code),
               reason);
}

}  // namespace switchyard::triggers::kafka
