#include "triggers/kafka/rebalance.h"

namespace switchyard::triggers::kafka {

void PendingRevoke::begin(const rd_kafka_topic_partition_list_t* partitions, bool lost,
                          PartitionMap& known) {
  ids_.clear();
  for (int i = 0; i < partitions->cnt; ++i) {
    const std::int32_t id = partitions->elems[i].partition;
    ids_.push_back(id);
    if (auto it = known.find(id); it != known.end()) {
      it->second->start_revoke();
    }
  }
  partitions_.reset(rd_kafka_topic_partition_list_copy(partitions));
  lost_ = lost;
  state_ = RebalanceState::kRevoking;
}

std::size_t PendingRevoke::in_flight(const PartitionMap& known) const {
  std::size_t in_flight = 0;
  for (std::int32_t id : ids_) {
    if (auto it = known.find(id); it != known.end()) {
      in_flight += it->second->in_scheduler;
    }
  }
  return in_flight;
}

}  // namespace switchyard::triggers::kafka
