#pragma once

// The Kafka source: one consumer group member per (function, Kafka trigger), and the dead-letter
// writer for `dead_letter: { kafka_topic: T }`.
//
// Each trigger is a librdkafka KafkaConsumer in group `group_id` (default
// "switchyard.<function>"), wired into the libuv loop: its consumer queue wakes a uv_poll_t
// (rd_kafka_queue_io_event_enable) and is served without blocking, a bounded number of records
// per wake-up. Records wait in a small per-partition buffer until their ordering rule
// (triggers/kafka/ordering.h) and the function's capacity let them go; a partition whose buffer
// is full is paused and resumed when it drains, so memory stays bounded however deep the topic.
//
// Offsets: auto-commit and auto offset store are off. Per partition the trigger commits only up
// to the lowest unfinished record (triggers/kafka/offset_tracker.h): asynchronously every
// `auto.commit.interval.ms` (default 1s), synchronously (bounded) on revoke and on stop. A record
// is finished when its function succeeded or when its dead letter was written; a record whose
// dead letter could not be written is dispatched again after a pause, and one refused at
// shutdown stays unfinished, so a failed record is never skipped.
//
// Rebalances: the rebalance callback is served on the loop thread. On revoke the trigger drops
// the revoked partitions' buffered records, waits (up to 10s) for their in-flight ones, commits,
// and only then unassigns, letting the rebalance go on. Eager and cooperative-sticky protocols
// are both supported.
//
// Thread rules: loop thread only (librdkafka's own threads stay inside librdkafka).

#include <string>

#include "config/config.h"
#include "core/error.h"
#include "triggers/trigger.h"

namespace switchyard::triggers::kafka {

// Registers the "kafka" trigger kind (consumers and the dead-letter writer).
void register_kafka_trigger(TriggerRegistry& registry);

// Checks that librdkafka accepts the daemon's Kafka settings (brokers and every property) for a
// consumer and a producer, without connecting: for `switchyard validate` and start-up.
core::Status check_kafka_config(const config::KafkaConfig& kafka);

}  // namespace switchyard::triggers::kafka
