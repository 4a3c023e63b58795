#include "triggers/kafka/commits.h"

#include <rapidjson/document.h>

#include <algorithm>

namespace switchyard::triggers::kafka {

PartitionListHolder commit_list(const std::string& topic, const PartitionMap& partitions,
                                std::span<const std::int32_t> ids) {
  PartitionListHolder list(rd_kafka_topic_partition_list_new(0));
  for (const auto& [id, partition] : partitions) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) {
      continue;
    }
    const std::int64_t offset = partition->commit_offset();
    if (offset >= 0) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), id)->offset = offset;
    }
  }
  return list;
}

bool record_commits(const rd_kafka_topic_partition_list_t* offsets, PartitionMap& partitions) {
  bool any = false;
  for (int i = 0; i < offsets->cnt; ++i) {
    const auto& entry = offsets->elems[i];
    if (entry.err != RD_KAFKA_RESP_ERR_NO_ERROR || entry.offset < 0) {
      continue;
    }
    any = true;
    if (auto it = partitions.find(entry.partition); it != partitions.end()) {
      it->second->confirm_commit(entry.offset);
    }
  }
  return any;
}

std::optional<std::string> join_state_of(std::string_view statistics) {
  rapidjson::Document doc;
  doc.Parse(statistics.data(), statistics.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return std::nullopt;
  }
  auto cgrp = doc.FindMember("cgrp");
  if (cgrp == doc.MemberEnd() || !cgrp->value.IsObject()) {
    return std::nullopt;
  }
  auto state = cgrp->value.FindMember("join_state");
  if (state == cgrp->value.MemberEnd() || !state->value.IsString()) {
    return std::nullopt;
  }
  return std::string(state->value.GetString(), state->value.GetStringLength());
}

}  // namespace switchyard::triggers::kafka
