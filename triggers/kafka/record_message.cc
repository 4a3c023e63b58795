#include "triggers/kafka/record_message.h"

#include <optional>
#include <string_view>
#include <vector>

namespace switchyard::triggers::kafka {

KafkaRecordView record_of(const rd_kafka_message_t* message) {
  KafkaRecordView record;
  record.topic = rd_kafka_topic_name(message->rkt);
  record.partition = message->partition;
  record.offset = message->offset;
  if (message->key != nullptr) {
    record.key.emplace(static_cast<const char*>(message->key), message->key_len);
  }
  if (message->payload != nullptr) {
    record.value = std::string_view(static_cast<const char*>(message->payload), message->len);
  }
  rd_kafka_timestamp_type_t type;
  record.timestamp_ms = rd_kafka_message_timestamp(message, &type);
  record.timestamp_type = type == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? "CREATE_TIME"
                          : type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "LOG_APPEND_TIME"
                                                                       : "NO_TIMESTAMP_TYPE";
  return record;
}

void fill_from_message(const rd_kafka_message_t* message, bool cloudevents, core::Event& event) {
  thread_local std::vector<KafkaHeaderView> headers;  // Reused: no allocation per record.
  KafkaRecordView record = record_of(message);
  headers.clear();
  rd_kafka_headers_t* raw_headers = nullptr;
  if (rd_kafka_message_headers(message, &raw_headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      raw_headers != nullptr) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0; rd_kafka_header_get_all(raw_headers, i, &name, &value, &size) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      KafkaHeaderView header{name, std::nullopt};
      if (value != nullptr) {
        header.value.emplace(static_cast<const char*>(value), size);
      }
      headers.push_back(header);
    }
  }
  record.headers = headers;
  fill_record_event(record, cloudevents, event);
}

namespace {

// The worker that runs an unbuilt record builds its event and destroys the message, off the
// loop thread.
void build_pending(void* item, core::Event& event) {
  MessageHolder message(static_cast<rd_kafka_message_t*>(item));
  fill_from_message(message.get(), /*cloudevents=*/true, event);
}
void release_pending(void* item) {
  // The holder frees it (and tolerates none, as a test's record has).
  MessageHolder message(static_cast<rd_kafka_message_t*>(item));
}
// A record without headers runs on a view of librdkafka's message: nothing is copied (the
// function reads the value where librdkafka put it) unless it fails. One with headers is built
// (its header attributes are composed, and CloudEvents headers set the event's attributes).
bool view_pending(void* item, core::ViewScratch& scratch, core::EventView& view) {
  const auto* message = static_cast<const rd_kafka_message_t*>(item);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR__NOENT) {
    return false;
  }
  record_event_view(record_of(message), scratch, view);
  return true;
}
void copy_pending(const void* item, core::Event& event) {
  fill_from_message(static_cast<const rd_kafka_message_t*>(item), /*cloudevents=*/true, event);
}
// A view or build reads the message and what librdkafka keeps right after it in the same
// allocation (its rd_kafka_msg_t: timestamp, where the headers are): about three cache lines.
constexpr std::uint16_t kMessageBytes = 192;

}  // namespace

const core::PendingContent::Ops kPendingRecord{&build_pending, &release_pending, &view_pending,
                                               &copy_pending, kMessageBytes};

}  // namespace switchyard::triggers::kafka
