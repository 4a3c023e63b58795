#include "triggers/batch.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "core/time.h"

using namespace switchyard;

namespace {

core::Event item(std::string id, std::string data, std::string content_type = "") {
  core::Event event;
  event.id = std::move(id);
  event.source = "redis://localhost:6379/0/orders";
  event.type = "switchyard.redis.stream";
  event.data = std::move(data);
  event.datacontenttype = std::move(content_type);
  event.attributes.push_back({"redis.id", event.id});
  return event;
}

}  // namespace

TEST_CASE("the native batch is a CloudEvents JSON batch of the items") {
  std::vector<core::Event> items;
  items.push_back(item("1-0", R"({"n":1})", "application/json"));
  items.push_back(item("2-0", "plain text", "text/plain"));
  items.push_back(item("3-0", std::string("\xff\x00\x01", 3)));
  items.push_back(item("4-0", "{not json", "application/json"));
  items[1].time = *core::parse_rfc3339("2026-11-23T13:45:00.123Z");
  items[0].traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  core::Event batch = triggers::encode_native_batch(items);
  CHECK(batch.type == "switchyard.batch");
  CHECK(batch.datacontenttype == "application/cloudevents-batch+json");
  CHECK(batch.id == "1-0..4-0");
  CHECK(batch.source == items[0].source);
  CHECK(batch.traceparent == items[0].traceparent);
  CHECK(batch.time == items[1].time);
  REQUIRE(core::find_attribute(batch.attributes, "batch.size") != nullptr);
  CHECK(core::find_attribute(batch.attributes, "batch.size")->value == "4");

  rapidjson::Document doc;
  doc.Parse(batch.data.data(), batch.data.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsArray());
  REQUIRE(doc.Size() == 4);
  const auto& first = doc[0];
  CHECK(std::string(first["specversion"].GetString()) == "1.0");
  CHECK(std::string(first["id"].GetString()) == "1-0");
  CHECK(std::string(first["type"].GetString()) == "switchyard.redis.stream");
  // JSON data is embedded as JSON; text as a string; anything else as base64.
  REQUIRE(first["data"].IsObject());
  CHECK(first["data"]["n"].GetInt() == 1);
  CHECK(std::string(first["attributes"]["redis.id"].GetString()) == "1-0");
  CHECK_FALSE(first.HasMember("time"));
  CHECK(std::string(doc[1]["data"].GetString()) == "plain text");
  CHECK(std::string(doc[1]["time"].GetString()) == "2026-11-23T13:45:00.123Z");
  CHECK_FALSE(doc[2].HasMember("data"));
  CHECK(std::string(doc[2]["data_base64"].GetString()) == "/wAB");
  CHECK(std::string(doc[3]["data"].GetString()) == "{not json");
}

TEST_CASE("a batch of one keeps its item's id") {
  std::vector<core::Event> items;
  items.push_back(item("7-1", "x"));
  core::Event batch = triggers::encode_native_batch(items);
  CHECK(batch.id == "7-1");
  CHECK(core::find_attribute(batch.attributes, "batch.size")->value == "1");
}

TEST_CASE("format_rfc3339 writes UTC with milliseconds and parses back") {
  auto t = *core::parse_rfc3339("1999-12-31T23:59:59.999+02:00");
  CHECK(core::format_rfc3339(t) == "1999-12-31T21:59:59.999Z");
  CHECK(core::parse_rfc3339(core::format_rfc3339(t)) == t);
  CHECK(core::format_rfc3339(std::chrono::system_clock::time_point{}) ==
        "1970-01-01T00:00:00.000Z");
}

// Found by the payload fuzzer: a year past 2262 overflowed the clock's nanoseconds.
TEST_CASE("parse_rfc3339 refuses times the clock cannot hold") {
  CHECK_FALSE(core::parse_rfc3339("2325-11-23T10:00:00Z"));
  CHECK_FALSE(core::parse_rfc3339("9999-12-31T23:59:59Z"));
  CHECK_FALSE(core::parse_rfc3339("1600-01-01T00:00:00Z"));
  CHECK(core::parse_rfc3339("2262-01-01T00:00:00Z"));
  CHECK(core::parse_rfc3339("1700-01-01T00:00:00+01:00"));
  CHECK(core::format_rfc3339(*core::parse_rfc3339("2262-01-01T00:00:00.5Z")) ==
        "2262-01-01T00:00:00.500Z");
}
