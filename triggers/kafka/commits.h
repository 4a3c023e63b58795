#pragma once

// What the consumer trigger commits, and when.
//
// What: per partition, the offset after the last record of an unbroken run of finished ones
// (Partition::commit_offset(): never past the lowest unfinished record), and only when it moved
// past the last offset the group coordinator confirmed.
//
// When: every auto.commit.interval.ms, unless a rebalance is under way (CommitGate), and
// synchronously on revoke and on stop (the trigger does those itself).
//
// Thread rules: loop thread only.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "triggers/kafka/client.h"
#include "triggers/kafka/partition.h"

namespace switchyard::triggers::kafka {

// A trigger's partitions by id.
using PartitionMap = std::map<std::int32_t, std::shared_ptr<Partition>>;

// The offsets of `topic` to commit for the partitions `ids` of `partitions` (every one when `ids`
// is empty): those that moved past their last confirmed commit.
PartitionListHolder commit_list(const std::string& topic, const PartitionMap& partitions,
                                std::span<const std::int32_t> ids = {});

// Takes the offsets the group coordinator confirmed into `partitions` (entries in error, and
// partitions no longer there, are skipped). Returns whether any was confirmed.
bool record_commits(const rd_kafka_topic_partition_list_t* offsets, PartitionMap& partitions);

// How long periodic commits wait for a cooperative rebalance to reach this member at most.
inline constexpr std::chrono::milliseconds kCommitHold{10000};

enum class CommitGateState {
  kOpen,  // Periodic commits go (unless the statistics say the member is rejoining).
  // A rebalance reached this member (a cooperative revoke, or a commit answered
  // REBALANCE_IN_PROGRESS): periodic commits wait until partitions are assigned to it, or
  // kCommitHold at most.
  kHeld,
};

// Whether a periodic commit may go now. A cooperative member's commit sent while its JoinGroup
// is pending is answered in the next generation with ILLEGAL_GENERATION, which librdkafka 2.0
// takes as the loss of the whole assignment (every uncommitted record read again by the next
// owners; librdkafka issue #4059, fixed upstream in 2.10). librdkafka does not say when the join
// is over, so the gate holds on the signs it gives. Revokes and stops commit regardless.
class CommitGate {
 public:
  CommitGateState state() const { return state_; }
  // The statistics last said the member is in a rebalance (join state neither steady nor init).
  bool rejoining() const { return rejoining_; }

  // kOpen or kHeld -> kHeld until `now_ms` + kCommitHold.
  void hold(std::uint64_t now_ms) {
    state_ = CommitGateState::kHeld;
    held_until_ms_ = now_ms + static_cast<std::uint64_t>(kCommitHold.count());
  }

  // -> kOpen: partitions were assigned (this member is in the new generation), or the group is
  // eager (it commits before it gives partitions up).
  void open() { state_ = CommitGateState::kOpen; }

  // What the statistics say of the join state. Returns whether the member just started
  // rejoining (for a log line).
  bool set_rejoining(bool rejoining) {
    const bool started = rejoining && !rejoining_;
    rejoining_ = rejoining;
    return started;
  }

  // Whether a periodic commit may go at `now_ms` (`cooperative`: the group's protocol). A hold
  // whose time is over opens the gate.
  bool allows(std::uint64_t now_ms, bool cooperative) {
    if (state_ == CommitGateState::kHeld) {
      if (now_ms < held_until_ms_) {
        return false;
      }
      state_ = CommitGateState::kOpen;
    }
    return !(rejoining_ && cooperative);
  }

 private:
  CommitGateState state_ = CommitGateState::kOpen;
  std::uint64_t held_until_ms_ = 0;  // Loop time, while kHeld.
  bool rejoining_ = false;
};

// The group join state in librdkafka's statistics JSON (cgrp.join_state), or nullopt when it is
// not there.
std::optional<std::string> join_state_of(std::string_view statistics);

// Whether a join state means the member is in a rebalance.
inline bool is_rejoining(std::string_view join_state) {
  return join_state != "steady" && join_state != "init";
}

}  // namespace switchyard::triggers::kafka
