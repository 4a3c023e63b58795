#pragma once

// The consumer trigger: one Kafka consumer group member per (function, Kafka trigger), wired
// into the libuv loop (see kafka_trigger.h for what it promises), and the client properties it
// relies on.
//
// It wires librdkafka's consumer into the loop and the units that decide what happens to its
// records. Its parts are its jobs: serving the consumer queue, dispatching, backpressure,
// commits, rebalances, stopping. It keeps the librdkafka calls, the timers and the metrics; the
// decisions are in:
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
//
// One part per file, all of one class (KafkaConsumerTrigger, declared in consumer_trigger_impl.h
// with the constants its parts share): consumer_trigger.cc keeps construction, start() and
// serving the consumer queue (and what this header declares); consumer_trigger_dispatch.cc
// dispatching (the pump, held records, completions) and backpressure (pausing and resuming
// partitions); consumer_trigger_commits.cc commits, with librdkafka's statistics and error
// callbacks; consumer_trigger_rebalance.cc rebalances (assign, revoke); consumer_trigger_stop.cc
// stopping (drain, leaving the group, teardown). commits.cc and rebalance.cc are the units
// above, not parts of the trigger.
//
// This header is private to triggers/kafka (it includes rdkafka.h through client.h).
//
// Thread rules: loop thread only.

#include <map>
#include <string>

#include "config/config.h"
#include "triggers/kafka/client.h"
#include "triggers/kafka/settings.h"
#include "triggers/trigger.h"

namespace switchyard::triggers::kafka {

// The properties every consumer gets unless the daemon config sets them.
const std::map<std::string, std::string>& consumer_defaults();

// What the consumer trigger relies on: refused in kafka.properties when set to anything else.
const std::map<std::string, std::string>& consumer_forced();

// A trigger that consumes `spec.topic` for `function` with the client configuration `conf`
// (made with the two maps above). Nothing connects before start().
TriggerPtr make_consumer_trigger(TriggerContext& context, std::string function,
                                 const KafkaTriggerSettings& spec, ConfHolder conf);

}  // namespace switchyard::triggers::kafka
