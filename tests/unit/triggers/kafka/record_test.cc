#include "triggers/kafka/record.h"

#include <doctest/doctest.h>

#include <map>

#include "core/time.h"

using namespace switchyard;
using namespace switchyard::triggers::kafka;

namespace {

KafkaRecord sample() {
  KafkaRecord record;
  record.topic = "orders";
  record.partition = 3;
  record.offset = 42;
  record.key = std::string("cust\0-7", 7);
  record.value = "{\"total\":12}";
  record.timestamp_ms = 1700000000123;
  record.timestamp_type = "CREATE_TIME";
  record.headers = {
      {"origin", std::string("web")}, {"empty", std::nullopt}, {"origin", std::string("retry")}};
  return record;
}

std::string attribute(const core::Event& event, const std::string& key) {
  const core::Attribute* found = core::find_attribute(event.attributes, key);
  return found != nullptr ? found->value : "<missing>";
}

}  // namespace

TEST_CASE("a record becomes an event with its coordinates as id and kafka.* attributes") {
  core::Event event = record_to_event(sample(), true);
  CHECK(event.id == "orders-3-42");
  CHECK(event.source == "kafka://orders");
  CHECK(event.type == "switchyard.kafka.record");
  CHECK(event.data == "{\"total\":12}");
  CHECK(core::format_rfc3339(event.time) == "2023-11-14T22:13:20.123Z");
  CHECK_FALSE(event.synchronous);
  CHECK(attribute(event, "kafka.topic") == "orders");
  CHECK(attribute(event, "kafka.partition") == "3");
  CHECK(attribute(event, "kafka.offset") == "42");
  CHECK(attribute(event, "kafka.key") == std::string("cust\0-7", 7));
  CHECK(attribute(event, "kafka.timestamp_type") == "CREATE_TIME");
  // Repeated headers stay, in order; a null header value is empty.
  std::vector<std::string> origins;
  for (const auto& a : event.attributes) {
    if (a.key == "kafka.header.origin") {
      origins.push_back(a.value);
    }
  }
  CHECK(origins == std::vector<std::string>{"web", "retry"});
  CHECK(attribute(event, "kafka.header.empty") == "");
  CHECK(attribute(event, "kafka.null_headers") == "1");  // The second header's value is null.
  KafkaRecord no_nulls = sample();
  no_nulls.headers[1].value = "";
  CHECK(attribute(record_to_event(std::move(no_nulls), true), "kafka.null_headers") == "<missing>");
}

TEST_CASE("the view of a record without headers is the event it would be built into") {
  // A function runs on this view when the event is not built; it must see what it would see in
  // the built event, field by field and attribute by attribute, in order.
  core::ViewScratch scratch;
  for (int variant = 0; variant < 4; ++variant) {
    KafkaRecord record = sample();
    record.headers.clear();
    if (variant == 1) {
      record.key.reset();
    }
    if (variant == 2) {
      record.timestamp_ms = -1;
      record.timestamp_type = "NO_TIMESTAMP_TYPE";
      record.value.clear();
    }
    if (variant == 3) {
      record.topic = std::string(200, 't');  // Longer than any small-string buffer.
      record.offset = 9223372036854775806;
    }
    std::vector<KafkaHeaderView> no_headers;
    KafkaRecordView view_of;
    view_of.topic = record.topic;
    view_of.partition = record.partition;
    view_of.offset = record.offset;
    if (record.key) {
      view_of.key = *record.key;
    }
    view_of.value = record.value;
    view_of.headers = no_headers;
    view_of.timestamp_ms = record.timestamp_ms;
    view_of.timestamp_type = record.timestamp_type;
    core::EventView view;
    record_event_view(view_of, scratch, view);
    // Built from a copy: the view points into `record`.
    core::Event built = record_to_event(KafkaRecord(record), true);
    CAPTURE(variant);
    CHECK(view.id == built.id);
    CHECK(view.source == built.source);
    CHECK(view.type == built.type);
    CHECK(view.subject == built.subject);
    CHECK(view.datacontenttype == built.datacontenttype);
    CHECK(view.dataschema == built.dataschema);
    CHECK(view.time == built.time);
    CHECK(view.data == built.data);
    CHECK(view.traceparent == built.traceparent);
    REQUIRE(view.attributes.size() == built.attributes.size());
    for (std::size_t i = 0; i < built.attributes.size(); ++i) {
      CHECK(view.attributes[i].key == built.attributes[i].key);
      CHECK(view.attributes[i].value == built.attributes[i].value);
    }
  }
}

TEST_CASE("a record without a key has no kafka.key attribute") {
  KafkaRecord record = sample();
  record.key.reset();
  core::Event event = record_to_event(std::move(record), true);
  CHECK(core::find_attribute(event.attributes, "kafka.key") == nullptr);
  auto back = record_from_event(event);
  REQUIRE(back);
  CHECK_FALSE(back->key.has_value());
}

TEST_CASE(
    "CloudEvents Kafka binding: ce_* headers set the attributes; the id stays the coordinates") {
  KafkaRecord record = sample();
  record.headers = {
      {"ce_specversion", std::string("1.0")},
      {"ce_id", std::string("order-created-9")},
      {"ce_source", std::string("/shop/orders")},
      {"ce_type", std::string("com.example.order.created")},
      {"ce_subject", std::string("order/9")},
      {"ce_time", std::string("2026-11-23T10:00:00Z")},
      {"ce_dataschema", std::string("https://example.com/order.json")},
      {"ce_tenant", std::string("acme")},
      {"content-type", std::string("application/json")},
      {"traceparent", std::string("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}};
  core::Event event = record_to_event(std::move(record), true);
  CHECK(event.id == "orders-3-42");
  CHECK(attribute(event, "ce.id") == "order-created-9");
  CHECK(event.source == "/shop/orders");
  CHECK(event.type == "com.example.order.created");
  CHECK(event.subject == "order/9");
  CHECK(core::format_rfc3339(event.time) == "2026-11-23T10:00:00.000Z");
  CHECK(event.dataschema == "https://example.com/order.json");
  CHECK(event.datacontenttype == "application/json");
  CHECK(attribute(event, "ce.tenant") == "acme");
  CHECK(core::find_attribute(event.attributes, "ce.specversion") == nullptr);
  CHECK(event.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  // The original headers are kept too, so that dead letters and lambda-kafka carry them as sent.
  CHECK(attribute(event, "kafka.header.ce_type") == "com.example.order.created");
}

TEST_CASE("a malformed ce_time is ignored; without the binding ce_* headers are plain headers") {
  KafkaRecord record = sample();
  record.headers = {{"ce_time", std::string("yesterday")}, {"ce_type", std::string("x")}};
  core::Event bound = record_to_event(KafkaRecord(record), true);
  CHECK(core::format_rfc3339(bound.time) == "2023-11-14T22:13:20.123Z");
  CHECK(bound.type == "x");
  core::Event plain = record_to_event(std::move(record), false);
  CHECK(plain.type == "switchyard.kafka.record");
}

TEST_CASE("the record comes back from its event") {
  core::Event event = record_to_event(sample(), true);
  auto back = record_from_event(event);
  REQUIRE(back);
  KafkaRecord original = sample();
  CHECK(back->topic == original.topic);
  CHECK(back->partition == original.partition);
  CHECK(back->offset == original.offset);
  CHECK(back->key == original.key);
  CHECK(back->value == original.value);
  CHECK(back->timestamp_ms == original.timestamp_ms);
  REQUIRE(back->headers.size() == 3);
  CHECK(back->headers[1].name == "empty");
  CHECK_FALSE(back->headers[1].value.has_value());  // Null stays null, not empty.
  CHECK(back->headers[2].name == "origin");
  CHECK(back->headers[2].value == std::optional<std::string>("retry"));
  core::Event http;
  http.id = "req-1";
  CHECK_FALSE(record_from_event(http).has_value());
}

TEST_CASE("dead letter of a Kafka record: original key, value and headers, plus why") {
  core::Event event = record_to_event(sample(), true);
  DeadLetterRecord letter = dead_letter_record(event, "billing", "PoisonRecord", "bad total", 3);
  CHECK(letter.key == sample().key);
  CHECK(letter.value == "{\"total\":12}");
  std::multimap<std::string, std::string> headers;
  for (const auto& header : letter.headers) {
    headers.emplace(header.name, header.value.value_or(""));
  }
  CHECK(letter.headers[0].name == "origin");
  CHECK(letter.headers[1].name == "empty");
  CHECK_FALSE(letter.headers[1].value.has_value());  // Forwarded null, as it came.
  CHECK(headers.count("origin") == 2);
  CHECK(headers.count("kafka.null_headers") == 0);
  CHECK(headers.find("switchyard.error.type")->second == "PoisonRecord");
  CHECK(headers.find("switchyard.error.message")->second == "bad total");
  CHECK(headers.find("switchyard.attempts")->second == "3");
  CHECK(headers.find("switchyard.function")->second == "billing");
  CHECK(headers.find("switchyard.event.id")->second == "orders-3-42");
  CHECK(headers.find("switchyard.source.topic")->second == "orders");
  CHECK(headers.find("switchyard.source.partition")->second == "3");
  CHECK(headers.find("switchyard.source.offset")->second == "42");
}

TEST_CASE("dead letter of another source's event: a binary-mode CloudEvent") {
  core::Event event;
  event.id = "cron-1";
  event.source = "switchyard/cron";
  event.type = "switchyard.cron.tick";
  event.datacontenttype = "text/plain";
  event.data = "tick";
  DeadLetterRecord letter = dead_letter_record(event, "report", "Timeout", "too slow", 2);
  CHECK_FALSE(letter.key.has_value());
  CHECK(letter.value == "tick");
  std::map<std::string, std::string> headers;
  for (const auto& header : letter.headers) {
    headers[header.name] = header.value.value_or("");
  }
  CHECK(headers["ce_specversion"] == "1.0");
  CHECK(headers["ce_id"] == "cron-1");
  CHECK(headers["ce_source"] == "switchyard/cron");
  CHECK(headers["ce_type"] == "switchyard.cron.tick");
  CHECK(headers["content-type"] == "text/plain");
  CHECK(headers["switchyard.error.type"] == "Timeout");
  CHECK(headers.count("switchyard.source.topic") == 0);
}
