#pragma once

// A function's asynchronous queue on a Kafka topic (`async.queue.kafka_topic: TOPIC`), shared by
// every daemon whose function names it (async/shared_queue.h):
//
// - The writer (SharedQueue) produces each invocation with the daemon's producer (acks=all,
//   idempotent: triggers/kafka/dead_letter_producer.h) and answers 202 once the broker has
//   acknowledged it. A failed attempt is put back the same way: the invocation again, with its
//   attempts and the time of its next attempt; the record it was read as is then passed (its
//   offset committed).
// - The reader is the Kafka consumer trigger (triggers/kafka/consumer_trigger.h) on TOPIC in the
//   consumer group async_group(TOPIC), ordering `none`, handing what it reads to the
//   AsyncQueue's intake (triggers/shared_async.h). Kafka spreads the partitions over the
//   daemons; when one dies, the group gives its partitions to the others after the session
//   timeout (`session.timeout.ms`, in kafka.properties), and they read again from the last
//   committed offset what it had not finished.
// - The bound is approximate: the group's lag (every partition's end offset less its committed
//   offset), measured every second on a thread of its own (a consumer client that reads
//   nothing), plus what this daemon added since. Kafka cannot count bytes this way, so
//   async.queue.bytes does not apply; the topic's retention bounds them.
//
// A record: key the request id; value the event as async/event_codec.h writes it; headers
// `request_id`, `function`, `attempts`, `enqueued_at` and `next_attempt_at` (unix ms).
//
// Thread rules: loop thread only, except the lag probe's own thread.

#include <memory>
#include <string>
#include <string_view>

#include "async/queue_store.h"
#include "async/shared_queue.h"
#include "config/config.h"
#include "core/error.h"
#include "core/event.h"
#include "triggers/kafka/client.h"
#include "triggers/kafka/dead_letter_producer.h"
#include "triggers/kafka/record.h"
#include "triggers/kafka/settings.h"
#include "triggers/trigger.h"

namespace switchyard::triggers::kafka {

// The consumer group every daemon reads the shared queue TOPIC in.
std::string async_group(std::string_view topic);

// The record an invocation is written as.
DeadLetterRecord invocation_record(const async::Record& record);
// The invocation back from the event the consumer trigger made of such a record (its headers
// are its kafka.header.* attributes, its value the event). An error names what is missing.
core::Result<async::Record> invocation_from_event(const core::Event& event);

// The writer of `topic` for `function`, producing with `producer`; its lag probe connects with
// `kafka` (the daemon's settings).
core::Result<std::shared_ptr<async::SharedQueue>> make_async_writer(
    std::shared_ptr<DeadLetterProducer> producer, const config::KafkaConfig& kafka,
    const std::string& function, const std::string& topic);

// The reader of `spec.topic` for `intake`: a consumer trigger of `function` made with `conf`.
TriggerPtr make_async_reader(TriggerContext& context, async::SharedIntake& intake,
                             const std::string& function, const KafkaTriggerSettings& spec,
                             ConfHolder conf);

}  // namespace switchyard::triggers::kafka
