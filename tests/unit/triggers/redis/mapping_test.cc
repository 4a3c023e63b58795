#include "triggers/redis/mapping.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

using namespace switchyard;
using namespace switchyard::triggers::redis;

TEST_CASE("a stream entry with a data field: data as is, every field as an attribute") {
  StreamEntry entry{"1700000000123-0", {{"data", std::string("\x01\x02", 2)}, {"kind", "x"}}};
  core::Event event = stream_entry_event("redis://h:1/0/jobs", "jobs", entry);
  CHECK(event.id == "1700000000123-0");
  CHECK(event.source == "redis://h:1/0/jobs");
  CHECK(event.type == "switchyard.redis.stream");
  CHECK(event.data == std::string("\x01\x02", 2));
  CHECK(event.datacontenttype.empty());
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(event.time.time_since_epoch())
            .count() == 1700000000123LL);
  CHECK(core::find_attribute(event.attributes, "redis.key")->value == "jobs");
  CHECK(core::find_attribute(event.attributes, "redis.id")->value == "1700000000123-0");
  CHECK(core::find_attribute(event.attributes, "redis.field.kind")->value == "x");
  CHECK_FALSE(event.synchronous);
}

TEST_CASE("a stream entry without a data field: a JSON object of its fields") {
  StreamEntry entry{"1-0", {{"a", "1"}, {"b", "say \"hi\""}}};
  core::Event event = stream_entry_event("s", "jobs", entry);
  CHECK(event.datacontenttype == "application/json");
  rapidjson::Document json;
  json.Parse(event.data.c_str());
  REQUIRE_FALSE(json.HasParseError());
  CHECK(std::string(json["a"].GetString()) == "1");
  CHECK(std::string(json["b"].GetString()) == "say \"hi\"");
}

TEST_CASE("list elements: data is the element, the id is stable and content-derived") {
  core::Event event = list_element_event("s", "queue", "hello");
  CHECK(event.data == "hello");
  CHECK(event.type == "switchyard.redis.list");
  CHECK(event.id == list_element_id("hello"));
  CHECK(event.id.rfind("fnv1a-", 0) == 0);
  CHECK(event.id.size() == 6 + 16);
  CHECK(list_element_id("hello") != list_element_id("hellp"));
  CHECK(core::find_attribute(event.attributes, "redis.id")->value == event.id);
}

TEST_CASE("dead letters: stream fields and list JSON carry the error, attempts and origin") {
  StreamEntry entry{"9-1", {{"data", "payload"}}};
  core::Event event = stream_entry_event("redis://h:1/0/jobs", "jobs", entry);
  core::Outcome outcome =
      core::Outcome::failure(core::OutcomeKind::kFunctionError, "PoisonError", "bad \"input\"");
  outcome.attempts = 3;
  std::string function = "resize";
  config::DeadLetterSpec destination{"redis_stream", "dlq"};
  scheduler::DeadLetter letter{function, destination, event, outcome};

  auto fields = dead_letter_fields(letter);
  REQUIRE(fields.size() % 2 == 0);
  std::map<std::string, std::string> map;
  for (std::size_t i = 0; i < fields.size(); i += 2) {
    map[fields[i]] = fields[i + 1];
  }
  CHECK(map["function"] == "resize");
  CHECK(map["error_type"] == "PoisonError");
  CHECK(map["error_message"] == "bad \"input\"");
  CHECK(map["attempts"] == "3");
  CHECK(map["event_id"] == "9-1");
  CHECK(map["redis.key"] == "jobs");
  CHECK(map["redis.id"] == "9-1");
  CHECK(map["data"] == "payload");

  rapidjson::Document json;
  std::string text = dead_letter_json(letter);
  json.Parse(text.c_str());
  REQUIRE_FALSE(json.HasParseError());
  CHECK(std::string(json["error_message"].GetString()) == "bad \"input\"");
  CHECK(json["attempts"].GetInt() == 3);
  CHECK(std::string(json["attributes"]["redis.id"].GetString()) == "9-1");
  CHECK(std::string(json["data"].GetString()) == "payload");

  core::Event binary = list_element_event("s", "q", std::string("\xff\xfe", 2));
  scheduler::DeadLetter binary_letter{function, destination, binary, outcome};
  std::string binary_text = dead_letter_json(binary_letter);
  json.Parse(binary_text.c_str());
  REQUIRE_FALSE(json.HasParseError());
  CHECK_FALSE(json.HasMember("data"));
  CHECK(std::string(json["data_base64"].GetString()) == "//4=");
}
