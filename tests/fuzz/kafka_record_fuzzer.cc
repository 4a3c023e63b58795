// libFuzzer target over what a Kafka record's untrusted bytes go through: the record -> event
// mapping with the CloudEvents Kafka binding (ce_* headers, content-type, traceparent), the event
// -> record mapping back, the dead-letter record, the lambda-kafka batch payload and the native
// batch. None may crash; the round trip must give back the key, value and headers.
//
// Input layout: the key, the value and each header as "name=value" are separated by 0x00 bytes;
// the first byte chooses whether the key is absent.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "triggers/batch.h"
#include "triggers/kafka/lambda_payload.h"
#include "triggers/kafka/record.h"

using namespace switchyard;
using triggers::kafka::KafkaHeader;
using triggers::kafka::KafkaRecord;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  bool keyless = (data[0] & 1) != 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  while (pos <= input.size()) {
    std::size_t end = input.find('\0', pos);
    if (end == std::string_view::npos) {
      end = input.size();
    }
    parts.push_back(input.substr(pos, end - pos));
    pos = end + 1;
  }
  KafkaRecord record;
  record.topic = "orders";
  record.partition = static_cast<std::int32_t>(data[0] >> 1);
  record.offset = static_cast<std::int64_t>(size) * 7;
  record.timestamp_ms = 1'700'000'000'000;
  record.timestamp_type = "CREATE_TIME";
  if (!keyless && !parts.empty()) {
    record.key = std::string(parts[0]);
  }
  if (parts.size() > 1) {
    record.value = std::string(parts[1]);
  }
  for (std::size_t i = 2; i < parts.size(); ++i) {
    std::size_t eq = parts[i].find('=');
    KafkaHeader header;
    header.name = std::string(parts[i].substr(0, eq));
    if (eq != std::string_view::npos) {
      header.value = std::string(parts[i].substr(eq + 1));
    }
    record.headers.push_back(std::move(header));
  }
  KafkaRecord original = record;

  std::vector<core::Event> events;
  events.push_back(triggers::kafka::record_to_event(std::move(record), /*cloudevents=*/true));
  KafkaRecord plain = original;
  events.push_back(triggers::kafka::record_to_event(std::move(plain), /*cloudevents=*/false));

  auto back = triggers::kafka::record_from_event(events[0]);
  if (!back || back->key != original.key || back->value != original.value ||
      back->headers.size() != original.headers.size()) {
    std::abort();  // The round trip lost something.
  }
  for (std::size_t i = 0; i < original.headers.size(); ++i) {
    // Names, bytes and null values are kept (kafka.null_headers).
    if (back->headers[i].name != original.headers[i].name ||
        back->headers[i].value != original.headers[i].value) {
      std::abort();
    }
  }
  auto letter = triggers::kafka::dead_letter_record(events[0], "fn", "Boom", "bad \xff bytes", 3);
  (void)letter;
  core::Event lambda = triggers::kafka::encode_lambda_kafka(events, "b1:9092,b2:9092");
  (void)lambda;
  core::Event native = triggers::encode_native_batch(events);
  (void)native;
  return 0;
}
