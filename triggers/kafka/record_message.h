#pragma once

// librdkafka's message as the rest of the trigger sees it: the record view that record.h maps to
// an event, the event itself (built now, or left for the worker that runs it), and the buffered
// record that waits in a partition's buffer until it is dispatched.
//
// This header is private to triggers/kafka (it includes rdkafka.h through client.h). The
// functions called once per record are inline here so that the consumer trigger's hot path
// stays inlinable.
//
// Thread rules: fill_from_message() and the pending contents' operations read one message at a
// time on whichever thread holds it (librdkafka caches its parsed headers in the message); the
// rest is loop thread only.

#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/event.h"
#include "triggers/kafka/client.h"
#include "triggers/kafka/record.h"

namespace switchyard::triggers::kafka {

// What the trigger reads of a librdkafka message, headers aside.
KafkaRecordView record_of(const rd_kafka_message_t* message);

// The event for a record as librdkafka delivered it (record.h's mapping, headers included).
void fill_from_message(const rd_kafka_message_t* message, bool cloudevents, core::Event& event);

// How a record handed to the scheduler unbuilt is built, viewed, copied and freed by the worker
// that runs it (core::PendingContent). Single records only, always with the CloudEvents binding
// (lambda-kafka is a batch payload, built on the loop).
extern const core::PendingContent::Ops kPendingRecord;

// A record read and not dispatched yet: librdkafka's message, with what the loop needs of it
// copied while the message is at hand (just delivered), so that dispatching it does not touch the
// message again: it is next read by the worker that runs it.
struct BufferedRecord {
  MessageHolder message;
  std::int64_t offset = 0;
  std::size_t cost = 0;  // record_cost(): what it adds to the partition's buffered bytes.
  // Just past the value in librdkafka's fetch buffer: where the record's header count is (Kafka's
  // record format), read when its headers are asked for. A prefetch hint only.
  const void* tail = nullptr;
};

// What a buffered record holds: its value and key (headers are not counted), the unit of
// max.partition.fetch.bytes, plus what librdkafka keeps for any message (its message and op
// structures, about this much). The event made at dispatch costs a few hundred bytes more.
inline constexpr std::size_t kRecordOverhead = 128;
inline std::size_t record_cost(const rd_kafka_message_t* message) {
  return message->len + message->key_len + kRecordOverhead;
}

inline BufferedRecord buffered_record(MessageHolder holder) {
  const rd_kafka_message_t* message = holder.get();
  const void* tail = message->payload != nullptr
                         ? static_cast<const char*>(message->payload) + message->len
                         : nullptr;
  const std::int64_t offset = message->offset;
  const std::size_t cost = record_cost(message);
  return BufferedRecord{std::move(holder), offset, cost, tail};
}

// The event for a buffered record, built now (a batch item: the batch is encoded on the loop).
// Its source_tag is the record's offset, for the completion.
inline core::Event event_of(const rd_kafka_message_t* message, bool cloudevents) {
  core::Event event;
  fill_from_message(message, cloudevents, event);
  event.source_tag = static_cast<std::uint64_t>(message->offset);
  return event;
}

// The event for a buffered record, to be built by whoever runs it (core::PendingContent): the
// scheduler's worker, off the loop thread. Carries only the offset until then.
inline core::Event pending_event_of(BufferedRecord record) {
  core::Event event;
  event.source_tag = static_cast<std::uint64_t>(record.offset);
  event.pending = core::PendingContent(&kPendingRecord, record.message.release(), record.tail);
  return event;
}

}  // namespace switchyard::triggers::kafka
