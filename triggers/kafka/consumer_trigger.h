#pragma once

// The consumer trigger: one Kafka consumer group member per (function, Kafka trigger), wired
// into the libuv loop (see kafka_trigger.h for what it promises), and the client properties it
// relies on.
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
