#pragma once

// The revoke half of a rebalance, as the consumer trigger lives it: partitions revoked (or
// lost) stop taking and dispatching records at once, and the rebalance waits, up to
// kRevokeWait, for their records in the scheduler; then their finished records are committed
// (unless the partitions were lost: another member owns them already) and they are unassigned,
// which lets the rebalance go on. Eager and cooperative protocols go through the same steps.
//
// librdkafka waits for the member to unassign before it goes on with the rebalance, so one
// revoke at most is pending at a time.
//
// Thread rules: loop thread only (the rebalance callback is served on the loop thread).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "triggers/kafka/client.h"
#include "triggers/kafka/commits.h"

namespace switchyard::triggers::kafka {

// How long a revoke waits for the revoked partitions' records in the scheduler.
inline constexpr std::chrono::milliseconds kRevokeWait{10000};

enum class RebalanceState {
  kSteady,    // No revoke pending.
  kRevoking,  // Partitions revoked: waiting for their records in the scheduler.
};

class PendingRevoke {
 public:
  RebalanceState state() const { return state_; }
  // The partitions revoked, as librdkafka named them (some may not be known to the trigger).
  const std::vector<std::int32_t>& ids() const { return ids_; }
  // Whether the partitions were lost (their ownership is gone: nothing of them is committed).
  bool lost() const { return lost_; }

  // kSteady -> kRevoking: `partitions` (copied) are revoked, or `lost`. Those of `known` stop
  // taking and dispatching records (Partition::start_revoke()).
  void begin(const rd_kafka_topic_partition_list_t* partitions, bool lost, PartitionMap& known);

  // Records of the revoked partitions still in the scheduler.
  std::size_t in_flight(const PartitionMap& known) const;

  // kRevoking -> kSteady: the partition list to unassign (the ids stay readable until the next
  // begin()).
  PartitionListHolder finish() {
    state_ = RebalanceState::kSteady;
    return std::move(partitions_);
  }

  // Forgets a pending revoke without unassigning (the client is gone).
  void abandon() {
    state_ = RebalanceState::kSteady;
    partitions_.reset();
    ids_.clear();
  }

 private:
  RebalanceState state_ = RebalanceState::kSteady;
  PartitionListHolder partitions_;
  std::vector<std::int32_t> ids_;
  bool lost_ = false;
};

}  // namespace switchyard::triggers::kafka
