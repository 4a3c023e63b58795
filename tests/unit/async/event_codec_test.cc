#include "async/event_codec.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace std::string_literals;
using switchyard::async::decode_event;
using switchyard::async::encode_event;
using switchyard::core::Event;

TEST_CASE("event codec: every content field comes back, binary bytes included") {
  Event event;
  event.id = "req-1";
  event.source = "switchyard/http";
  event.type = "com.example.upload";
  event.subject = "img/\xc3\xa9t\xc3\xa9.png";
  event.datacontenttype = "application/octet-stream";
  event.dataschema = "https://example.com/schema";
  event.time =
      std::chrono::system_clock::time_point(std::chrono::nanoseconds(1'700'000'000'123'456'789));
  event.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  event.data = "\x00\x01\xff\xfe binary \"quoted\"\n"s;
  event.attributes = {{"http.header.x-a", "1"},
                      {"http.header.x-a", "2"},
                      {"kafka.key", "\xff\x00k"s},
                      {"\xc0 bad key"s, ""}};

  std::string bytes = encode_event(event);
  Event back;
  back.attributes = {{"left", "over"}};
  REQUIRE(decode_event(bytes, back).ok());
  CHECK(back.id == event.id);
  CHECK(back.source == event.source);
  CHECK(back.type == event.type);
  CHECK(back.subject == event.subject);
  CHECK(back.datacontenttype == event.datacontenttype);
  CHECK(back.dataschema == event.dataschema);
  CHECK(back.time == event.time);
  CHECK(back.traceparent == event.traceparent);
  CHECK(back.data == event.data);
  REQUIRE(back.attributes.size() == event.attributes.size());
  for (std::size_t i = 0; i < event.attributes.size(); ++i) {
    CHECK(back.attributes[i].key == event.attributes[i].key);
    CHECK(back.attributes[i].value == event.attributes[i].value);
  }
}

TEST_CASE("event codec: text stays readable, bytes that are not UTF-8 are base64") {
  Event event;
  event.type = "t";
  event.data = "{\"hello\":\"w\xc3\xb6rld\"}";
  std::string bytes = encode_event(event);
  CHECK(bytes.find(R"("type":"t")") != std::string::npos);
  CHECK(bytes.find(R"("data":"{\"hello\":\"w)") != std::string::npos);
  event.data = "\xff\xfe";
  CHECK(encode_event(event).find(R"("data":{"base64":"//4="})") != std::string::npos);
}

TEST_CASE("event codec: what is not such an object is refused") {
  Event event;
  CHECK_FALSE(decode_event("", event).ok());
  CHECK_FALSE(decode_event("[]", event).ok());
  CHECK_FALSE(decode_event(R"({"id": 5})", event).ok());
  CHECK_FALSE(decode_event(R"({"data": {"base64": "@@"}})", event).ok());
  CHECK_FALSE(decode_event(R"({"attributes": [["only one"]]})", event).ok());
  CHECK_FALSE(decode_event(R"({"time_ns": "yesterday"})", event).ok());
  CHECK(decode_event(R"({"id": "x"})", event).ok());
  CHECK(event.id == "x");
}

TEST_CASE("event codec: empty members are left out and come back empty") {
  Event event;
  event.id = "req-2";
  event.type = "t";
  std::string bytes = encode_event(event);
  CHECK(bytes.find("subject") == std::string::npos);
  CHECK(bytes.find("traceparent") == std::string::npos);
  CHECK(bytes.find("data") == std::string::npos);
  Event back;
  back.subject = "left over";
  back.data = "left over";
  REQUIRE(decode_event(bytes, back).ok());
  CHECK(back.id == "req-2");
  CHECK(back.subject.empty());
  CHECK(back.data.empty());
}
