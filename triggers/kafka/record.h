#pragma once

// The mappings between a Kafka record and what the rest of switchyard sees:
// - the event a function receives for one record (CloudEvents Kafka protocol binding, binary
//   mode: ce_* headers set the CloudEvents attributes, content-type sets datacontenttype);
// - the record rebuilt from such an event (for the lambda-kafka payload and for dead letters);
// - the dead-letter record: the original key, value and headers plus headers that say why.
//
// Everything here is a pure function of its arguments (no librdkafka types): safe on any thread.
// Record contents are untrusted: keys, values and headers may hold any bytes.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"

namespace switchyard::triggers::kafka {

inline constexpr std::string_view kRecordEventType = "switchyard.kafka.record";
// The attribute that says which headers have a null value (an attribute value cannot be null):
// their positions among the record's headers, from 0, separated by commas ("1,4"). Absent when
// no header is null.
inline constexpr std::string_view kNullHeaders = "kafka.null_headers";

struct KafkaHeader {
  std::string name;
  std::optional<std::string> value;  // nullopt: a header with a null value.
};

struct KafkaRecord {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;                    // nullopt: no key.
  std::string value;                                 // A null value is empty.
  std::vector<KafkaHeader> headers;                  // In record order; names may repeat.
  std::int64_t timestamp_ms = -1;                    // -1: none.
  std::string timestamp_type = "NO_TIMESTAMP_TYPE";  // CREATE_TIME | LOG_APPEND_TIME | ...
};

// A record as the consumer holds it, by view: what record_to_event() reads, without a copy of
// the record first (the Kafka trigger's path for every record).
struct KafkaHeaderView {
  std::string_view name;
  std::optional<std::string_view> value;  // nullopt: a header with a null value.
};

struct KafkaRecordView {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string_view> key;
  std::string_view value;
  std::span<const KafkaHeaderView> headers;
  std::int64_t timestamp_ms = -1;
  std::string_view timestamp_type = "NO_TIMESTAMP_TYPE";
};

// "<topic>-<partition>-<offset>": the stable id of a record's event.
std::string record_id(std::string_view topic, std::int32_t partition, std::int64_t offset);

// The event for one record. id = record_id(), source = "kafka://<topic>", type =
// kRecordEventType, time = the record timestamp, data = the value. Attributes, in order:
// kafka.topic, kafka.partition, kafka.offset, kafka.key (only when the record has a key),
// kafka.timestamp (unix ms), kafka.timestamp_type, then kafka.header.<name> for every header
// (repeats kept, in order; a null value is empty, and kafka.null_headers names it). With
// `cloudevents`, the binding's headers also set the attributes: ce_source, ce_type, ce_subject,
// ce_dataschema, ce_time (RFC 3339; ignored when malformed) and content-type set their fields,
// ce_id becomes "ce.id" (the event id stays the record's coordinates, so that batch item failures
// and redeliveries name the record), ce_specversion is dropped, and any other ce_<name> becomes
// "ce.<name>". The header `traceparent` sets the event's trace parent.
core::Event record_to_event(const KafkaRecordView& record, bool cloudevents);
core::Event record_to_event(KafkaRecord&& record, bool cloudevents);
// The same, filled into `event` (its completion, source_tag and pending contents are left as
// they are): for an event built after it was handed over. `event` is as PendingContent's build
// gets it: content fields empty, attributes possibly an earlier event's (overwritten in place).
void fill_record_event(const KafkaRecordView& record, bool cloudevents, core::Event& event);
// The event's contents apart from what its headers give (the kafka.header.* attributes, the
// CloudEvents binding, the traceparent), composed in `scratch` and pointing into the record's
// own storage: for a record without headers, the view a function runs on when its event is not
// built (core::PendingContent::Ops::view); fill_record_event() builds the same into an event.
void record_event_view(const KafkaRecordView& record, core::ViewScratch& scratch,
                       core::EventView& view);

// The record an event made by record_to_event() came from: topic, partition, offset, key, value,
// headers and timestamp. nullopt when the event did not come from Kafka.
std::optional<KafkaRecord> record_from_event(const core::Event& event);

// Header names carried by a dead letter, after the original headers.
inline constexpr std::string_view kDlqErrorType = "switchyard.error.type";
inline constexpr std::string_view kDlqErrorMessage = "switchyard.error.message";
inline constexpr std::string_view kDlqAttempts = "switchyard.attempts";
inline constexpr std::string_view kDlqFunction = "switchyard.function";
inline constexpr std::string_view kDlqEventId = "switchyard.event.id";
inline constexpr std::string_view kDlqSourceTopic = "switchyard.source.topic";
inline constexpr std::string_view kDlqSourcePartition = "switchyard.source.partition";
inline constexpr std::string_view kDlqSourceOffset = "switchyard.source.offset";

struct DeadLetterRecord {
  std::optional<std::string> key;
  std::string value;
  std::vector<KafkaHeader> headers;
};

// What goes to a dead-letter topic for `event`. A Kafka event keeps its original key, value and
// headers and gains the switchyard.* headers, the source ones included. An event from another
// source (HTTP, cron, Redis) is written as a CloudEvent in binary mode (ce_specversion, ce_id,
// ce_source, ce_type, ce_subject, ce_time, content-type) with its data as the value, no key, and
// the same switchyard.* headers except the source.* ones.
DeadLetterRecord dead_letter_record(const core::Event& event, std::string_view function,
                                    std::string_view error_type, std::string_view error_message,
                                    int attempts);

}  // namespace switchyard::triggers::kafka
