#pragma once

// `payload: lambda-kafka`: the event AWS Lambda sends a function for a self-managed Apache
// Kafka event source, so that Lambda functions written for Kafka run unchanged:
//
//   {"eventSource": "SelfManagedKafka", "bootstrapServers": "b1:9092,b2:9092",
//    "records": {"<topic>-<partition>": [
//      {"topic": "...", "partition": 0, "offset": 15, "timestamp": 1545084650987,
//       "timestampType": "CREATE_TIME", "key": "<base64>", "value": "<base64>",
//       "headers": [{"<name>": [104, 101, ...]}]}, ...]}}
//
// `key` is left out for a record without one. Records are grouped by topic-partition in the
// order their groups first appear, and keep their order inside a group. The function names
// failed records in `batchItemFailures` by their event id, "<topic>-<partition>-<offset>".
//
// Pure function of its arguments: any thread.

#include <span>
#include <string_view>

#include "core/event.h"

namespace switchyard::triggers::kafka {

inline constexpr std::string_view kBatchEventType = "switchyard.kafka.batch";

// The batch event for `items` (at least one, each made by record_to_event()): data is the
// Lambda JSON above, datacontenttype application/json, type kBatchEventType, id "<first id>..
// <last id>" (the one id for one item), the first item's source and trace parent, the latest
// item time, and the attribute "batch.size".
core::Event encode_lambda_kafka(std::span<const core::Event> items,
                                std::string_view bootstrap_servers);

}  // namespace switchyard::triggers::kafka
