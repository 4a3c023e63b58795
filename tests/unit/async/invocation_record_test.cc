// The invocation record of asynchronous destinations, in the shape Lambda writes it.

#include "async/invocation_record.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>

namespace async = switchyard::async;
namespace core = switchyard::core;

namespace {

rapidjson::Document record_of(const core::Event& event, const core::Outcome& outcome,
                              std::string_view condition) {
  const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1765015200123));
  std::string json = async::invocation_record(
      async::InvocationRecordInput{"req-1", "arn:aws:lambda:eu-west-1:123456789012:function:hello",
                                   condition, event, outcome, at});
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  REQUIRE_MESSAGE(!document.HasParseError(), json);
  return document;
}

std::string text(const rapidjson::Value& value) {
  return std::string(value.GetString(), value.GetStringLength());
}

}  // namespace

TEST_CASE("invocation record: a success carries the payload and the result as JSON") {
  core::Event event;
  event.data = R"({"name":"Ada"})";
  core::Response response;
  response.body = R"({"statusCode":200,"body":"Hello, Ada!"})";
  core::Outcome outcome = core::Outcome::success(response);
  outcome.attempts = 1;
  auto document = record_of(event, outcome, async::kSuccess);
  CHECK(text(document["version"]) == "1.0");
  CHECK(text(document["timestamp"]) == "2025-12-06T10:00:00.123Z");
  CHECK(text(document["requestContext"]["functionArn"]) ==
        "arn:aws:lambda:eu-west-1:123456789012:function:hello:$LATEST");
  CHECK(text(document["requestContext"]["condition"]) == "Success");
  CHECK(document["requestContext"]["approximateInvokeCount"].GetInt() == 1);
  CHECK(text(document["requestPayload"]["name"]) == "Ada");
  CHECK(text(document["responseContext"]["executedVersion"]) == "$LATEST");
  CHECK(!document["responseContext"].HasMember("functionError"));
  CHECK(text(document["responsePayload"]["body"]) == "Hello, Ada!");
}

TEST_CASE("invocation record: a failure carries the runtime's error document as it was posted") {
  core::Event event;
  event.data = "[1,2,3]";
  core::Outcome outcome =
      core::Outcome::failure(core::OutcomeKind::kFunctionError, "ValueError", "bad value");
  outcome.error_document =
      R"({"errorMessage":"bad value","errorType":"ValueError","requestId":"req-1","stackTrace":[]})";
  outcome.attempts = 3;
  auto document = record_of(event, outcome, "RetriesExhausted");
  CHECK(document["requestPayload"].IsArray());
  CHECK(text(document["responseContext"]["functionError"]) == "Unhandled");
  CHECK(text(document["responsePayload"]["errorType"]) == "ValueError");
  CHECK(document["responsePayload"]["stackTrace"].IsArray());
  CHECK(document["requestContext"]["approximateInvokeCount"].GetInt() == 3);
}

TEST_CASE("invocation record: payloads that are not JSON are strings; never run, no response") {
  core::Event event;
  event.data = std::string("\xff\x00\x01", 3);
  core::Outcome outcome =
      core::Outcome::failure(core::OutcomeKind::kFunctionError, "EventAgeExceeded", "too old");
  outcome.attempts = 0;
  auto document = record_of(event, outcome, "EventAgeExceeded");
  CHECK(text(document["requestPayload"]) == "/wAB");  // base64: not UTF-8.
  CHECK(!document.HasMember("responseContext"));
  CHECK(!document.HasMember("responsePayload"));

  event.data = R"({"a":1} trailing)";
  outcome.attempts = 1;
  auto text_payload = record_of(event, outcome, "RetriesExhausted");
  CHECK(text(text_payload["requestPayload"]) == R"({"a":1} trailing)");
  CHECK(text(text_payload["responsePayload"]["errorMessage"]) == "too old");
}
