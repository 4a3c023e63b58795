// Tests of the native envelope: events and responses survive a round trip byte for byte, and
// malformed envelopes (what an untrusted environment may send) are errors, never crashes.

#include "environments/native/envelope.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace std::string_literals;
using switchyard::core::Attribute;
using switchyard::core::AttributeView;
using switchyard::core::Event;
using switchyard::core::EventView;
using switchyard::core::Response;
using switchyard::environments::decode_event;
using switchyard::environments::decode_response;
using switchyard::environments::encode_event;
using switchyard::environments::encode_response;

namespace {

Event full_event() {
  Event event;
  event.id = "topic-0-42";
  event.source = "kafka://broker/topic";
  event.type = "switchyard.kafka.record";
  event.subject = "key-1";
  event.datacontenttype = "application/json";
  event.dataschema = "https://example.com/schema";
  event.time = std::chrono::system_clock::time_point(1714564800123456789ns);
  event.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  event.data = R"({"quote":"\"","nul":"x"})";
  event.attributes = {{"http.header.accept", "text/html"},
                      {"http.method", "POST"},
                      {"http.header.accept", "application/json"},
                      {"empty", ""}};
  return event;
}

Event decoded(const std::string& json) {
  Event event;
  auto status = decode_event(json, event);
  REQUIRE_MESSAGE(status.ok(), status.error().message());
  return event;
}

void check_same(const Event& a, const Event& b) {
  CHECK(a.id == b.id);
  CHECK(a.source == b.source);
  CHECK(a.type == b.type);
  CHECK(a.subject == b.subject);
  CHECK(a.datacontenttype == b.datacontenttype);
  CHECK(a.dataschema == b.dataschema);
  CHECK(a.time == b.time);
  CHECK(a.traceparent == b.traceparent);
  CHECK(a.data == b.data);
  REQUIRE(a.attributes.size() == b.attributes.size());
  for (std::size_t i = 0; i < a.attributes.size(); ++i) {
    CHECK(a.attributes[i].key == b.attributes[i].key);
    CHECK(a.attributes[i].value == b.attributes[i].value);
  }
}

rapidjson::Document parsed(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str(), json.size());
  REQUIRE_FALSE(document.HasParseError());
  return document;
}

std::string event_error(const std::string& json) {
  Event event;
  auto status = decode_event(json, event);
  REQUIRE_FALSE_MESSAGE(status.ok(), json);
  CHECK(status.error().code() == switchyard::core::ErrorCode::kInvalidArgument);
  return status.error().message();
}

std::string response_error(const std::string& json) {
  auto response = decode_response(json);
  REQUIRE_FALSE_MESSAGE(response.ok(), json);
  CHECK(response.error().code() == switchyard::core::ErrorCode::kInvalidArgument);
  return response.error().message();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("an event survives a round trip, attributes in order with their duplicates") {
  Event event = full_event();
  std::string json = encode_event(event);
  check_same(decoded(json), event);

  rapidjson::Document document = parsed(json);
  CHECK(std::string(document["time"].GetString()) == "2024-05-01T12:00:00.123456789Z");
  CHECK(document["data"].IsString());
  CHECK_FALSE(document.HasMember("data_base64"));
  REQUIRE(document["attributes"].IsArray());
  CHECK(document["attributes"].Size() == 4);
  CHECK(std::string(document["attributes"][2][0].GetString()) == "http.header.accept");
  CHECK(std::string(document["attributes"][2][1].GetString()) == "application/json");
}

TEST_CASE("binary data and binary attribute values travel as base64") {
  Event event = full_event();
  event.data = "\x00\xff\xfe binary \x80"s;
  event.attributes = {{"kafka.key", "\xc3\x28"s}, {"kafka.header.x", "text"}, {"nul", "a\0b"s}};
  std::string json = encode_event(event);
  check_same(decoded(json), event);

  rapidjson::Document document = parsed(json);
  CHECK_FALSE(document.HasMember("data"));
  REQUIRE(document["data_base64"].IsString());
  const auto& attributes = document["attributes"];
  REQUIRE(attributes[0][1].IsObject());
  CHECK(attributes[0][1]["base64"].IsString());
  CHECK(attributes[1][1].IsString());
  // A NUL is valid UTF-8: it stays text, escaped by JSON.
  CHECK(attributes[2][1].IsString());
  CHECK(contains(json, "a\\u0000b"));
}

TEST_CASE("empty fields are left out, and decoding one clears what the event held") {
  Event empty;
  std::string json = encode_event(empty);
  CHECK(json == "{}");

  Event reused = full_event();
  reused.synchronous = true;
  reused.source_tag = 7;
  REQUIRE(decode_event(json, reused).ok());
  check_same(reused, empty);
  // What is not in the envelope is left alone.
  CHECK(reused.synchronous);
  CHECK(reused.source_tag == 7);

  SUBCASE("empty data given explicitly is empty") {
    Event event = decoded(R"({"data": "", "data_base64_not": 1, "attributes": []})");
    CHECK(event.data.empty());
    CHECK(event.attributes.empty());
  }
}

TEST_CASE("times keep their nanoseconds, before 1970 too; a zero time is left out") {
  for (auto since_epoch : {1ns, -1ns, 999999999ns, 1714564800000000000ns, -86400000000001ns}) {
    Event event;
    event.time = std::chrono::system_clock::time_point(since_epoch);
    Event back = decoded(encode_event(event));
    CHECK(back.time == event.time);
  }
  Event before;
  before.time = std::chrono::system_clock::time_point(-1ns);
  CHECK(encode_event(before) == R"({"time":"1969-12-31T23:59:59.999999999Z"})");
  Event zero;
  CHECK_FALSE(contains(encode_event(zero), "time"));
  CHECK(decoded(R"({"time":"2026-11-23T13:45:00.5+01:00"})").time ==
        std::chrono::system_clock::time_point(1795437900500000000ns));
}

TEST_CASE("text fields that are not valid UTF-8 become U+FFFD") {
  Event event;
  event.id = "id\xff";
  event.attributes = {{"key\xfe", "value"}};
  Event back = decoded(encode_event(event));
  CHECK(back.id == "id\xef\xbf\xbd");
  CHECK(back.attributes[0].key == "key\xef\xbf\xbd");
}

TEST_CASE("a view encodes as the event it shows, into a reused buffer") {
  Event event = full_event();
  std::vector<AttributeView> attributes;
  for (const Attribute& attribute : event.attributes) {
    attributes.push_back({attribute.key, attribute.value});
  }
  EventView view{event.id,         event.source, event.type, event.subject, event.datacontenttype,
                 event.dataschema, event.time,   event.data, attributes,    event.traceparent};
  std::string out = "old contents that must go";
  encode_event(view, out);
  CHECK(out == encode_event(event));
  std::string again = out;
  encode_event(event, out);
  CHECK(out == again);
}

TEST_CASE("unknown members are ignored") {
  Event event = decoded(R"({"id":"a","future":{"nested":[1,2,{"x":null}]},"synchronous":true})");
  CHECK(event.id == "a");
}

TEST_CASE("malformed events are errors that say what is wrong") {
  CHECK(contains(event_error(""), "not JSON"));
  CHECK(contains(event_error("not json"), "not JSON"));
  CHECK(contains(event_error(R"({"id":"a"} trailing)"), "not JSON"));
  CHECK(contains(event_error("{\"id\":\"\xff\"}"), "not JSON"));
  CHECK(contains(event_error(R"({"id":"\ud800"})"), "not JSON"));
  // A lone low surrogate passes the parser but is no text: it could not be written back.
  CHECK(contains(event_error(R"({"id":"\udda7"})"), "\"id\" is not valid UTF-8"));
  CHECK(contains(event_error(R"({"attributes":[["k\udc00","v"]]})"),
                 "attribute 0: its key is not valid UTF-8"));
  CHECK(contains(event_error("[]"), "not a JSON object"));
  CHECK(contains(event_error("null"), "not a JSON object"));
  CHECK(contains(event_error(R"({"id":1})"), "\"id\" must be a string"));
  CHECK(contains(event_error(R"({"traceparent":null})"), "\"traceparent\" must be a string"));
  CHECK(contains(event_error(R"({"time":5})"), "\"time\" must be an RFC 3339 string"));
  CHECK(contains(event_error(R"({"time":"yesterday"})"), "not an RFC 3339"));
  CHECK(contains(event_error(R"({"data":1})"), "\"data\" must be a string"));
  CHECK(contains(event_error(R"({"data_base64":"!!!!"})"), "not valid base64"));
  CHECK(contains(event_error(R"({"data":"a","data_base64":"YQ=="})"), "given twice"));
  CHECK(contains(event_error(R"({"id":"a","id":"b"})"), "\"id\" is given twice"));
  CHECK(contains(event_error(R"({"attributes":{}})"), "must be an array"));
  CHECK(contains(event_error(R"({"attributes":[["k"]]})"), "attribute 0 must be a [key, value]"));
  CHECK(contains(event_error(R"({"attributes":[["k","v"],"kv"]})"), "attribute 1 must be"));
  CHECK(contains(event_error(R"({"attributes":[[1,"v"]]})"), "key must be a string"));
  CHECK(contains(event_error(R"({"attributes":[["k",2]]})"), "\"k\"): its value must be"));
  CHECK(contains(event_error(R"({"attributes":[["k",{"b64":"YQ=="}]]})"), "its value must be"));
  CHECK(contains(event_error(R"({"attributes":[["k",{"base64":"YQ==","x":1}]]})"),
                 "its value must be"));
  CHECK(contains(event_error(R"({"attributes":[["k",{"base64":"*"}]]})"), "not valid base64"));
  CHECK(contains(event_error(R"({"attributes":[["k",{"base64":7}]]})"), "not valid base64"));
  // Deep nesting is refused by the parser, not by the stack.
  CHECK(contains(event_error(R"({"x":)" + std::string(200000, '[')), "not JSON"));
}

TEST_CASE("a response survives a round trip") {
  Response response;
  response.status = 201;
  response.headers = {{"set-cookie", "a=1"}, {"content-type", "text/plain"}, {"set-cookie", "b=2"}};
  response.body = "created\n";
  std::string json = encode_response(response);
  CHECK(json == R"({"status":201,"headers":[["set-cookie","a=1"],["content-type","text/plain"],)"
                R"(["set-cookie","b=2"]],"body":"created\n"})");
  auto back = decode_response(json);
  REQUIRE(back.ok());
  CHECK(back->status == 201);
  REQUIRE(back->headers.size() == 3);
  CHECK(back->headers[2].key == "set-cookie");
  CHECK(back->headers[2].value == "b=2");
  CHECK(back->body == response.body);

  SUBCASE("a binary body travels as base64") {
    response.body = "\x89PNG\r\n\x1a\n\0\xff"s;
    json = encode_response(response);
    CHECK(contains(json, "\"body_base64\":"));
    auto binary = decode_response(json);
    REQUIRE(binary.ok());
    CHECK(binary->body == response.body);
  }
  SUBCASE("an empty response is a 200 without headers or body") {
    CHECK(encode_response(Response{}) == R"({"status":200})");
    auto empty = decode_response("{}");
    REQUIRE(empty.ok());
    CHECK(empty->status == 200);
    CHECK(empty->headers.empty());
    CHECK(empty->body.empty());
  }
}

TEST_CASE("malformed responses are errors that say what is wrong") {
  CHECK(contains(response_error(""), "response envelope: not JSON"));
  CHECK(contains(response_error("[1]"), "not a JSON object"));
  CHECK(contains(response_error(R"({"status":99})"), "from 100 to 599"));
  CHECK(contains(response_error(R"({"status":600})"), "from 100 to 599"));
  CHECK(contains(response_error(R"({"status":"200"})"), "from 100 to 599"));
  CHECK(contains(response_error(R"({"status":200.5})"), "from 100 to 599"));
  CHECK(contains(response_error(R"({"status":1e300})"), "from 100 to 599"));
  CHECK(contains(response_error(R"({"status":200,"status":201})"), "given twice"));
  CHECK(contains(response_error(R"({"headers":{"a":"b"}})"), "must be an array"));
  CHECK(contains(response_error(R"({"headers":[["a"]]})"), "header 0 must be a [name, value]"));
  CHECK(contains(response_error(R"({"headers":[["a","b"],[1,"x"]]})"), "header 1: its name"));
  CHECK(contains(response_error(R"({"headers":[["a",null]]})"), "must be strings"));
  CHECK(contains(response_error(R"({"body":3})"), "\"body\" must be a string"));
  CHECK(contains(response_error(R"({"body_base64":"a"})"), "not valid base64"));
  CHECK(contains(response_error(R"({"body":"a","body_base64":"YQ=="})"), "given twice"));
  CHECK(contains(response_error(std::string(100000, '[')), "not JSON"));
}
