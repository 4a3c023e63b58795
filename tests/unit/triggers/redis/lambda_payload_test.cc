#include "triggers/redis/lambda_payload.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "core/codec.h"
#include "scheduler/batch_item_failures.h"
#include "triggers/redis/mapping.h"

using namespace switchyard;
using namespace switchyard::triggers::redis;

namespace {

constexpr const char* kSource = "redis://h:1/0/jobs";

rapidjson::Document parse(const core::Event& batch) {
  rapidjson::Document json;
  json.Parse(batch.data.c_str(), batch.data.size());
  REQUIRE_FALSE(json.HasParseError());
  REQUIRE(json.IsObject());
  REQUIRE(json.HasMember("Records"));
  REQUIRE(json["Records"].IsArray());
  return json;
}

std::string text(const rapidjson::Value& value) {
  REQUIRE(value.IsString());
  return std::string(value.GetString(), value.GetStringLength());
}

}  // namespace

TEST_CASE("lambda-sqs: stream entries as SQS records, in order, fields as message attributes") {
  std::vector<core::Event> items;
  items.push_back(stream_entry_event(
      kSource, "jobs",
      StreamEntry{"1700000000123-0", {{"kind", "thumb"}, {"data", "{\"w\": 10}"}, {"kind", "x"}}}));
  items.push_back(
      stream_entry_event(kSource, "jobs", StreamEntry{"1700000000456-1", {{"data", "b"}}}));
  core::Event batch = encode_lambda_sqs(items);
  CHECK(batch.type == "switchyard.redis.batch");
  CHECK(batch.id == "1700000000123-0..1700000000456-1");
  CHECK(batch.source == kSource);
  CHECK(batch.datacontenttype == "application/json");
  CHECK(core::find_attribute(batch.attributes, "batch.size")->value == "2");
  CHECK_FALSE(batch.synchronous);

  rapidjson::Document json = parse(batch);
  const auto& records = json["Records"];
  REQUIRE(records.Size() == 2);
  const auto& first = records[0];
  CHECK(text(first["messageId"]) == "1700000000123-0");
  CHECK(text(first["receiptHandle"]) == "1700000000123-0");
  CHECK(text(first["body"]) == "{\"w\": 10}");
  CHECK(text(first["attributes"]["ApproximateReceiveCount"]) == "1");
  CHECK(text(first["attributes"]["SentTimestamp"]) == "1700000000123");
  CHECK_FALSE(first["attributes"].HasMember("SwitchyardBodyEncoding"));
  CHECK(text(first["eventSource"]) == "switchyard:redis");
  CHECK(text(first["eventSourceARN"]) == kSource);
  // Every field but data, a name given twice keeping its first value.
  const auto& attributes = first["messageAttributes"];
  REQUIRE(attributes.IsObject());
  CHECK(attributes.MemberCount() == 1);
  CHECK(text(attributes["kind"]["stringValue"]) == "thumb");
  CHECK(text(attributes["kind"]["dataType"]) == "String");
  CHECK(attributes["kind"]["stringListValues"].IsArray());
  CHECK(attributes["kind"]["binaryListValues"].IsArray());
  // Records in the items' order.
  CHECK(text(records[1]["messageId"]) == "1700000000456-1");
  CHECK(text(records[1]["body"]) == "b");
  CHECK(records[1]["messageAttributes"].MemberCount() == 0);
}

TEST_CASE("lambda-sqs: bytes that are not UTF-8 are base64, and said to be") {
  const std::string binary("\xff\x00\x01", 3);
  std::vector<core::Event> items;
  items.push_back(
      stream_entry_event(kSource, "jobs", StreamEntry{"1-0", {{"data", binary}, {"raw", binary}}}));
  items.push_back(list_element_event(kSource, "jobs", binary));
  rapidjson::Document json = parse(encode_lambda_sqs(items));
  const auto& records = json["Records"];
  REQUIRE(records.Size() == 2);
  CHECK(text(records[0]["body"]) == core::base64_encode(binary));
  CHECK(text(records[0]["attributes"]["SwitchyardBodyEncoding"]) == "base64");
  const auto& raw = records[0]["messageAttributes"]["raw"];
  CHECK(text(raw["binaryValue"]) == core::base64_encode(binary));
  CHECK(text(raw["dataType"]) == "Binary");
  CHECK_FALSE(raw.HasMember("stringValue"));
  CHECK(text(records[1]["body"]) == core::base64_encode(binary));
  CHECK(text(records[1]["attributes"]["SwitchyardBodyEncoding"]) == "base64");
}

TEST_CASE("lambda-sqs: a stream entry without data, and list elements, keep their native data") {
  std::vector<core::Event> items;
  items.push_back(
      stream_entry_event(kSource, "jobs", StreamEntry{"5-0", {{"a", "1"}, {"b", "say \"hi\""}}}));
  core::Event element = list_element_event(kSource, "jobs", "hello \"world\"\n");
  element.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(42));
  items.push_back(std::move(element));
  core::Event batch = encode_lambda_sqs(items);
  rapidjson::Document json = parse(batch);
  const auto& records = json["Records"];
  REQUIRE(records.Size() == 2);
  // The body is what a native function gets: the fields as a JSON object, which are also
  // message attributes.
  CHECK(text(records[0]["body"]) == items[0].data);
  CHECK(records[0]["messageAttributes"].MemberCount() == 2);
  CHECK(text(records[0]["messageAttributes"]["b"]["stringValue"]) == "say \"hi\"");
  CHECK(text(records[1]["messageId"]) == list_element_id("hello \"world\"\n"));
  CHECK(text(records[1]["receiptHandle"]) == list_element_id("hello \"world\"\n"));
  CHECK(text(records[1]["body"]) == "hello \"world\"\n");
  CHECK(text(records[1]["attributes"]["SentTimestamp"]) == "42");
  CHECK(records[1]["messageAttributes"].MemberCount() == 0);
}

TEST_CASE(
    "lambda-sqs: one item is still a Records batch, and its messageId names it in "
    "batchItemFailures") {
  std::vector<core::Event> items;
  items.push_back(stream_entry_event(kSource, "jobs", StreamEntry{"7-0", {{"data", "x"}}}));
  core::Event batch = encode_lambda_sqs(items);
  CHECK(batch.id == "7-0");
  rapidjson::Document json = parse(batch);
  REQUIRE(json["Records"].Size() == 1);

  items.push_back(list_element_event(kSource, "jobs", "y"));
  items.push_back(list_element_event(kSource, "jobs", "z"));
  json = parse(encode_lambda_sqs(items));
  // An SQS handler answers with the messageId of the records it failed.
  std::string failed = text(json["Records"][2]["messageId"]);
  std::string body = R"({"batchItemFailures":[{"itemIdentifier":")" + failed + R"("}]})";
  scheduler::BatchItemFailures report = scheduler::read_batch_item_failures(body, items);
  CHECK_FALSE(report.whole_batch_error.has_value());
  CHECK(report.failed == std::vector<bool>{false, false, true});
}
