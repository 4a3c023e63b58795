#include "triggers/kafka/lambda_payload.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <vector>

#include "core/codec.h"
#include "triggers/kafka/record.h"

using namespace switchyard;
using namespace switchyard::triggers::kafka;

namespace {

core::Event event_for(const std::string& topic, int partition, long long offset,
                      std::optional<std::string> key, std::string value,
                      std::vector<KafkaHeader> headers = {}) {
  KafkaRecord record;
  record.topic = topic;
  record.partition = partition;
  record.offset = offset;
  record.key = std::move(key);
  record.value = std::move(value);
  record.headers = std::move(headers);
  record.timestamp_ms = 1545084650987 + offset;
  record.timestamp_type = "CREATE_TIME";
  return record_to_event(std::move(record), false);
}

}  // namespace

TEST_CASE("lambda-kafka: records keyed by topic-partition, base64 key and value, byte headers") {
  std::vector<core::Event> items;
  items.push_back(
      event_for("orders", 1, 15, std::string("k1"), "Hello", {{"h", std::string("\x68\xe9", 2)}}));
  items.push_back(event_for("orders", 0, 7, std::nullopt, std::string("\0\1", 2)));
  items.push_back(event_for("orders", 1, 16, std::string("k2"), "World"));
  core::Event batch = encode_lambda_kafka(items, "b1:9092,b2:9092");
  CHECK(batch.type == "switchyard.kafka.batch");
  CHECK(batch.id == "orders-1-15..orders-1-16");
  CHECK(batch.datacontenttype == "application/json");

  rapidjson::Document json;
  json.Parse(batch.data.c_str(), batch.data.size());
  REQUIRE_FALSE(json.HasParseError());
  CHECK(std::string(json["eventSource"].GetString()) == "SelfManagedKafka");
  CHECK(std::string(json["bootstrapServers"].GetString()) == "b1:9092,b2:9092");
  const auto& records = json["records"];
  REQUIRE(records.IsObject());
  CHECK(records.MemberCount() == 2);
  // Groups in order of first appearance; records in order inside a group.
  CHECK(std::string(records.MemberBegin()->name.GetString()) == "orders-1");
  const auto& first = records["orders-1"][0];
  CHECK(std::string(first["topic"].GetString()) == "orders");
  CHECK(first["partition"].GetInt() == 1);
  CHECK(first["offset"].GetInt64() == 15);
  CHECK(first["timestamp"].GetInt64() == 1545084650987 + 15);
  CHECK(std::string(first["timestampType"].GetString()) == "CREATE_TIME");
  CHECK(std::string(first["key"].GetString()) == core::base64_encode("k1"));
  CHECK(std::string(first["value"].GetString()) == core::base64_encode("Hello"));
  const auto& header = first["headers"][0]["h"];
  REQUIRE(header.IsArray());
  CHECK(header[0].GetInt() == 104);
  CHECK(header[1].GetInt() == -23);  // Java's signed bytes, as Lambda sends them.
  CHECK(records["orders-1"][1]["offset"].GetInt64() == 16);
  const auto& keyless = records["orders-0"][0];
  CHECK_FALSE(keyless.HasMember("key"));
  CHECK(std::string(keyless["value"].GetString()) == core::base64_encode(std::string("\0\1", 2)));
}
